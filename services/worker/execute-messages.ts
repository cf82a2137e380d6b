// An Anthropic Messages request (wire `anthropic`) on one target: an Anthropic target gets the
// client's body natively; any other gets it translated to the internal chat request, and its events
// are the usual chat ones (the ingress renders them as Messages).
import { ApiError } from '../../shared/protocol/errors.ts';
import type { EventBody } from '../../shared/protocol/events.ts';
import type { MessagesRequest } from '../../shared/protocol/anthropic-messages/request.ts';
import { messagesToChatRequest } from '../../shared/protocol/anthropic-messages/to-chat.ts';
import { anthropic } from '../../shared/providers/anthropic/index.ts';
import { AdapterError } from '../../shared/providers/types.ts';
import type { RequestProgress } from './attempts.ts';
import { runChat, runStream, type ExecutionDeps, type ExecutionOutcome, type ExecutionTarget } from './execute.ts';
import { runAnthropicNativeChat, runAnthropicNativeStream } from './execute-anthropic-native.ts';

export async function runMessages(
  deps: ExecutionDeps,
  target: ExecutionTarget,
  body: MessagesRequest,
  opts: { stream: boolean; anthropicBeta?: string },
  job: RequestProgress,
  emit: (ev: EventBody) => void,
): Promise<ExecutionOutcome> {
  // By name: the registry wraps each adapter (request-field check), so identity is not the test.
  if (target.adapter.name === anthropic.name) {
    return opts.stream
      ? runAnthropicNativeStream(deps, target, body, opts.anthropicBeta, job, emit)
      : runAnthropicNativeChat(deps, target, body, opts.anthropicBeta, job, emit);
  }
  let chat;
  try {
    chat = messagesToChatRequest(body, target.adapter.name);
  } catch (err) {
    // Not retryable, and no use falling back: the same body fails the same way on the next target.
    throw err instanceof ApiError ? AdapterError.from(err) : err;
  }
  return opts.stream ? runStream(deps, target, chat, job, emit) : runChat(deps, target, chat, job, emit);
}

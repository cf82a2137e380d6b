// The `webhook` kind: the operator's service decides. POST JSON, answer JSON, within `timeout_ms`;
// the shapes are documented in docs/guardrails.md. Anything else (timeout, refused connection,
// non-2xx, unreadable answer) is a WebhookFailure and the guardrail's `on_error` decides.
import { loadUndici } from '../runtime/undici.ts';
import { z } from 'zod';

export interface WebhookCall {
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

export const webhookAnswerSchema = z.object({
  action: z.enum(['allow', 'block', 'mask']),
  reason: z.string().max(1_000).optional(),
  /** pre_call / during_call mask: the messages to send instead. */
  messages: z.array(z.record(z.string(), z.unknown())).optional(),
  /** post_call mask: the answer text to send instead. */
  content: z.string().optional(),
});
export type WebhookAnswer = z.infer<typeof webhookAnswerSchema>;

export class WebhookFailure extends Error {
  override name = 'WebhookFailure';
}

const MAX_ANSWER_BYTES = 1 << 20;

export async function callWebhook(call: WebhookCall, payload: unknown): Promise<WebhookAnswer> {
  const { request } = await loadUndici();
  let res;
  try {
    res = await request(call.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...call.headers },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(call.timeoutMs),
    });
  } catch (err) {
    const e = err as Error;
    const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError';
    throw new WebhookFailure(timedOut ? `no answer within ${call.timeoutMs} ms` : `unreachable: ${e.message}`);
  }
  let text: string;
  try {
    // The timeout covers the body too: a webhook that sends headers and then stalls is still late.
    text = await res.body.text();
  } catch (err) {
    throw new WebhookFailure(`answer cut off: ${(err as Error).message}`);
  }
  if (res.statusCode < 200 || res.statusCode >= 300) throw new WebhookFailure(`answered HTTP ${res.statusCode}`);
  if (text.length > MAX_ANSWER_BYTES) throw new WebhookFailure('answer larger than 1 MiB');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new WebhookFailure(`answer is not JSON: ${text.slice(0, 80)}`);
  }
  const parsed = webhookAnswerSchema.safeParse(json);
  if (!parsed.success) throw new WebhookFailure(`answer has an unexpected shape: ${parsed.error.issues[0]?.message ?? ''}`);
  return parsed.data;
}

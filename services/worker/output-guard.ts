// Content guardrails on the answer, applied in the worker before events are published, so every
// delivery path (SSE, WebSocket, resumed streams, async results, batch output) gets the checked text.
// during_call checks run on the request in parallel with the upstream call; nothing is published
// until they pass. post_call checks run on the answer: streamed text passes through windowed stages
// (stream-window.ts) that hold back only what could still be part of a match.
import type { ChunkDelta, ChunkEvent, EventBody } from '../../shared/protocol/events.ts';
import { errors } from '../../shared/protocol/errors.ts';
import type { CheckContext, Guardrail } from '../../shared/guardrails/guardrail.ts';
import { checkRequest, type GuardrailRegistry } from '../../shared/guardrails/registry.ts';
import type { ChatLike } from '../../shared/guardrails/request-text.ts';
import { StagePipeline, type Violation } from '../../shared/guardrails/stream-window.ts';

type Emit = (ev: EventBody) => void;
type FirstChunkMeta = Pick<ChunkEvent, 'provider' | 'attempts' | 'simulated'>;

export interface OutputGuardOptions {
  names: readonly string[];
  body: ChatLike;
  ctx: CheckContext;
  /** Publishes an event (the worker's own emit). */
  emit: Emit;
  /** A guardrail refused the answer: stop the upstream call. */
  onViolation: () => void;
}

export class OutputGuard {
  violation: Violation | null = null;
  private readonly out: Emit;
  private readonly onViolation: () => void;
  private readonly body: ChatLike;
  private readonly ctx: CheckContext;
  private readonly post: Guardrail[];
  private readonly tools: Guardrail[];
  private during: Promise<Violation | null> | null;
  private pipeline: StagePipeline;
  private chain: Promise<void> = Promise.resolve();
  private started = false;
  private meta: FirstChunkMeta | null = null;

  /** Null when none of `names` runs in the worker: the request pays nothing. */
  static create(registry: GuardrailRegistry, opts: OutputGuardOptions): OutputGuard | null {
    if (opts.names.length === 0) return null;
    const during = registry.inMode(opts.names, 'during_call');
    const post = registry.inMode(opts.names, 'post_call');
    if (during.length === 0 && post.length === 0) return null;
    return new OutputGuard(opts, during, post);
  }

  private constructor(opts: OutputGuardOptions, during: Guardrail[], post: Guardrail[]) {
    this.out = opts.emit;
    this.onViolation = opts.onViolation;
    this.body = opts.body;
    this.ctx = opts.ctx;
    this.post = post;
    this.tools = post.filter((g) => g.def.kind === 'tools');
    this.pipeline = this.newPipeline();
    // Started now, in parallel with the upstream call; a copy, since a check may rewrite what it reads.
    this.during =
      during.length > 0
        ? checkRequest(during, 'during_call', structuredClone(opts.body), opts.ctx).then(
            (r) => r.violation,
            (err: unknown) => ({ guardrail: during[0]!.name, reason: String(err), unavailable: true }),
          )
        : null;
  }

  /** Use in place of the worker's emit: events are checked and published in order. */
  readonly emit: Emit = (ev) => {
    this.chain = this.chain.then(() => this.handle(ev));
  };

  /** Resolves when every event handed to `emit` is checked and published (or refused). */
  settled(): Promise<void> {
    return this.chain;
  }

  private newPipeline(): StagePipeline {
    return new StagePipeline(this.post.map((g) => g.outputStage(this.body, this.ctx)).filter((s) => s !== null));
  }

  private async handle(ev: EventBody): Promise<void> {
    if (this.violation) return; // the stream already ended with the guardrail's error
    if (this.during) {
      const refused = await this.during;
      this.during = null;
      if (refused) return this.refuse(refused);
    }
    if ((ev.type === 'chunk' || (ev.type === 'result' && ev.kind === 'chat')) && ev.native !== undefined) {
      // Anthropic passthrough: frames nothing here reads. The ingress refuses post_call on that
      // surface (fail closed); this is the backstop. during_call alone lets them pass as they came.
      const post = this.post[0];
      if (post) return this.refuse({ guardrail: post.name, reason: 'the answer is relayed in a format post_call cannot read' });
      if (ev.type === 'chunk') this.started = true;
      return this.out(ev);
    }
    if (ev.type === 'chunk') return this.chunk(ev);
    if (ev.type === 'done') {
      const rest = await this.pipeline.end();
      if (rest.violation) return this.refuse(rest.violation);
      if (rest.text) this.publishChunk({ content: rest.text });
      return this.out(ev);
    }
    if (ev.type === 'result' && ev.kind === 'chat') {
      for (const call of ev.message.tool_calls ?? []) {
        const v = this.toolViolation(call.function.name);
        if (v) return this.refuse(v);
      }
      if (typeof ev.message.content === 'string' && this.pipeline.length > 0) {
        const pushed = this.pipeline.push(ev.message.content);
        const ended = pushed.violation ? pushed : await this.pipeline.end();
        if (ended.violation) return this.refuse(ended.violation);
        return this.out({ ...ev, message: { ...ev.message, content: pushed.text + ended.text } });
      }
    }
    // Errors and embeddings pass as they are (text still held back is dropped with a failed stream).
    this.out(ev);
  }

  private async chunk(ev: Extract<EventBody, { type: 'chunk' }>): Promise<void> {
    if (ev.provider !== undefined)
      this.meta = { provider: ev.provider, attempts: ev.attempts, ...(ev.simulated ? { simulated: true } : {}) };
    const { content, ...rest } = ev.delta;
    for (const call of rest.tool_calls ?? []) {
      const v = call.function?.name ? this.toolViolation(call.function.name) : null;
      if (v) return this.refuse(v);
    }
    if (content === undefined || this.pipeline.length === 0) return this.publishChunk(ev.delta);
    const passed = this.pipeline.push(content);
    if (passed.violation) return this.refuse(passed.violation);
    if (rest.tool_calls !== undefined || rest.reasoning_content !== undefined) {
      // Text before a tool call or reasoning is complete: release what is held, then start afresh.
      const held = await this.pipeline.end();
      if (held.violation) return this.refuse(held.violation);
      this.pipeline = this.newPipeline();
      return this.publishChunk({ ...rest, content: passed.text + held.text });
    }
    if (passed.text || rest.role) this.publishChunk({ ...rest, content: passed.text });
  }

  private publishChunk(delta: ChunkDelta): void {
    this.started = true;
    const meta = this.meta ?? {};
    this.meta = null;
    this.out({ type: 'chunk', delta, ...meta });
  }

  private toolViolation(name: string): Violation | null {
    for (const g of this.tools) {
      const v = g.checkToolCall(name, this.ctx);
      if (v) return v;
    }
    return null;
  }

  /** Ends the answer: a stream already under way gets `finish_reason: content_filter` first. */
  private refuse(v: Violation): void {
    this.violation = v;
    this.onViolation();
    const err = v.unavailable ? errors.guardrailUnavailable(v.guardrail, v.reason) : errors.guardrailBlocked(v.guardrail, v.reason);
    if (this.started) this.out({ type: 'chunk', delta: {}, finish_reason: 'content_filter' });
    this.out({ type: 'error', status: err.status, error: err.toBody().error });
  }
}

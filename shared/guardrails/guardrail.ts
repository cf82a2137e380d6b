// One configured guardrail at run time: its kind's check on the request (pre_call, during_call), its
// stage on the answer (post_call), and what each outcome is counted as.
import type { Ajv, ValidateFunction } from 'ajv';
import { estimatePromptTokens } from '../limits/estimate.ts';
import { metrics } from '../telemetry/metrics.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { GuardrailDefinition, GuardrailMode } from './definitions.ts';
import { textSlots, toolNames, type ChatLike } from './request-text.ts';
import { blocklistScanner, maskSpans, piiScanner, type Span, type TextScanner } from './scanners.ts';
import { WholeAnswerStage, WindowStage, type StageOutput, type TextStage, type Violation } from './stream-window.ts';
import { callWebhook, WebhookFailure, type WebhookAnswer } from './webhook.ts';
import { lazyRequire } from '../runtime/lazy-require.ts';

// ajv is loaded by the first json_schema guardrail.
const ajvLib = lazyRequire<typeof import('ajv')>(import.meta.url, 'ajv');

export interface CheckContext {
  requestId: string;
  tenantId: string;
  keyId: string | null;
  /** The model as the client named it. */
  model: string;
}

export type InputVerdict =
  | { action: 'pass' }
  /** The body was rewritten in place. */
  | { action: 'masked' }
  | { action: 'block'; violation: Violation }
  /** `on_error: closed` and the guardrail could not decide. */
  | { action: 'unavailable'; violation: Violation };

export type Outcome = 'pass' | 'block' | 'mask' | 'log' | 'error_open' | 'error_closed';

export interface GuardrailDeps {
  log?: Pick<Logger, 'info' | 'warn'>;
  /** Replaceable in tests. */
  webhook?: (call: { url: string; headers: Record<string, string>; timeoutMs: number }, payload: unknown) => Promise<WebhookAnswer>;
}

const SCHEMA_CACHE_MAX = 256;

export class Guardrail {
  readonly def: GuardrailDefinition;
  readonly name: string;
  readonly modes: ReadonlySet<GuardrailMode>;
  private readonly scanner: TextScanner | null;
  private readonly deps: GuardrailDeps;
  private readonly ajv: Ajv | null;
  private readonly schemas = new Map<string, ValidateFunction>();

  constructor(def: GuardrailDefinition, deps: GuardrailDeps = {}) {
    this.def = def;
    this.name = def.name;
    this.modes = new Set(def.mode);
    this.deps = deps;
    this.scanner = def.kind === 'blocklist' ? blocklistScanner(def) : def.kind === 'pii' ? piiScanner(def) : null;
    this.ajv = def.kind === 'json_schema' ? new (ajvLib().Ajv)({ allErrors: false, strict: false }) : null;
  }

  /** Counts the outcome; `log` outcomes and failures are also logged (names and labels, never the text). */
  report(mode: GuardrailMode, outcome: Outcome, ctx: CheckContext, detail?: string): void {
    metrics.guardrailResults.inc({ guardrail: this.name, mode, outcome });
    if (outcome === 'pass') return;
    const fields = { guardrail: this.name, mode, outcome, requestId: ctx.requestId, tenantId: ctx.tenantId, detail };
    if (outcome === 'error_open' || outcome === 'error_closed') this.deps.log?.warn(fields, 'guardrail could not decide');
    else this.deps.log?.info(fields, 'guardrail matched');
  }

  /** Checks (and may rewrite in place) a chat request body. */
  async checkInput(body: ChatLike, ctx: CheckContext, mode: GuardrailMode): Promise<InputVerdict> {
    const def = this.def;
    switch (def.kind) {
      case 'blocklist':
      case 'pii': {
        let masked = false;
        for (const slot of textSlots(body)) {
          const spans = this.scanner!.scan(slot.text);
          if (spans.length === 0) continue;
          if (def.on_fail === 'block') return this.block(mode, ctx, `matched ${spans[0]!.label}`);
          if (def.on_fail === 'mask') {
            slot.set(maskSpans(slot.text, spans));
            masked = true;
          }
          this.report(mode, def.on_fail, ctx, labels(spans));
        }
        if (!masked) this.report(mode, 'pass', ctx);
        return masked ? { action: 'masked' } : { action: 'pass' };
      }
      case 'max_input_tokens': {
        const tokens = estimatePromptTokens(body);
        if (tokens <= def.max_tokens) return this.pass(mode, ctx);
        return this.failed(mode, ctx, `the input is about ${tokens} tokens, more than the ${def.max_tokens} allowed`);
      }
      case 'tools': {
        const refused = toolNames(body).find((n) => this.toolRefused(n));
        if (refused === undefined) return this.pass(mode, ctx);
        return this.failed(mode, ctx, `tool '${refused}' is not allowed`);
      }
      case 'json_schema':
        return { action: 'pass' };
      case 'webhook': {
        const payload = {
          guardrail: this.name,
          phase: mode,
          request_id: ctx.requestId,
          tenant_id: ctx.tenantId,
          key_id: ctx.keyId,
          model: ctx.model,
          messages: body.messages ?? [],
          tools: body.tools ?? [],
          // Text outside `messages` (Anthropic Messages, embeddings): the webhook reads it; `mask` cannot rewrite it.
          ...(body.system !== undefined && { system: body.system }),
          ...(body.input !== undefined && { input: body.input }),
        };
        let answer: WebhookAnswer;
        try {
          answer = await this.callWebhook(payload);
          if (answer.action === 'mask' && !answer.messages) throw new WebhookFailure("answered 'mask' without 'messages'");
        } catch (err) {
          return this.webhookFailed(mode, ctx, err);
        }
        if (answer.action === 'allow') return this.pass(mode, ctx);
        if (answer.action === 'mask') {
          body.messages = answer.messages as ChatLike['messages'];
          this.report(mode, 'mask', ctx);
          return { action: 'masked' };
        }
        return this.failed(mode, ctx, answer.reason ?? 'refused by the policy service');
      }
    }
  }

  /** The post_call stage for the answer text; null when this kind does not read text. */
  outputStage(body: ChatLike, ctx: CheckContext): TextStage | null {
    const def = this.def;
    if (!this.modes.has('post_call')) return null;
    if (this.scanner) {
      const onFail = def.on_fail;
      return new WindowStage({
        name: this.name,
        scanner: this.scanner,
        onFail,
        onMatch: (outcome, spans) => this.report('post_call', outcome, ctx, labels(spans)),
      });
    }
    if (def.kind === 'json_schema') {
      const schema = def.schema ?? body.response_format?.json_schema?.schema;
      if (!schema || typeof schema !== 'object') return null;
      return new WholeAnswerStage(async (text) => this.checkJson(text, schema, ctx));
    }
    if (def.kind === 'webhook') {
      return new WholeAnswerStage(async (text) => {
        const payload = {
          guardrail: this.name,
          phase: 'post_call',
          request_id: ctx.requestId,
          tenant_id: ctx.tenantId,
          key_id: ctx.keyId,
          model: ctx.model,
          messages: body.messages ?? [],
          output: { content: text },
        };
        let answer: WebhookAnswer;
        try {
          answer = await this.callWebhook(payload);
          if (answer.action === 'mask' && answer.content === undefined) throw new WebhookFailure("answered 'mask' without 'content'");
        } catch (err) {
          const failure = (err as Error).message;
          if (def.on_error === 'open') {
            this.report('post_call', 'error_open', ctx, failure);
            return { text };
          }
          this.report('post_call', 'error_closed', ctx, failure);
          return { text: '', violation: { guardrail: this.name, reason: failure, unavailable: true } };
        }
        if (answer.action === 'allow') {
          this.report('post_call', 'pass', ctx);
          return { text };
        }
        if (answer.action === 'mask') {
          this.report('post_call', 'mask', ctx);
          return { text: answer.content! };
        }
        return this.outputFailed(text, ctx, answer.reason ?? 'refused by the policy service');
      });
    }
    return null;
  }

  /** tools kind: a tool call in the answer naming a tool the guardrail refuses. */
  checkToolCall(name: string, ctx: CheckContext): Violation | null {
    if (this.def.kind !== 'tools' || !this.modes.has('post_call') || !this.toolRefused(name)) return null;
    if (this.def.on_fail === 'log') {
      this.report('post_call', 'log', ctx, name);
      return null;
    }
    this.report('post_call', 'block', ctx, name);
    return { guardrail: this.name, reason: `tool '${name}' is not allowed` };
  }

  private toolRefused(name: string): boolean {
    if (this.def.kind !== 'tools') return false;
    return this.def.deny.includes(name) || (this.def.allow !== undefined && !this.def.allow.includes(name));
  }

  private checkJson(text: string, schema: object, ctx: CheckContext): StageOutput {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return this.outputFailed(text, ctx, 'the answer is not valid JSON');
    }
    const validate = this.compiled(schema);
    if (!validate) return this.outputFailed(text, ctx, 'the JSON schema of the request cannot be compiled');
    if (validate(value)) {
      this.report('post_call', 'pass', ctx);
      return { text };
    }
    return this.outputFailed(text, ctx, `the answer does not match the JSON schema (${this.ajv!.errorsText(validate.errors)})`);
  }

  /** Compiled schemas are cached by their JSON text: clients usually send the same one again. */
  private compiled(schema: object): ValidateFunction | null {
    const key = JSON.stringify(schema);
    let fn = this.schemas.get(key);
    if (fn) return fn;
    try {
      fn = this.ajv!.compile(schema);
    } catch {
      return null;
    }
    if (this.schemas.size >= SCHEMA_CACHE_MAX) this.schemas.delete(this.schemas.keys().next().value!);
    this.schemas.set(key, fn);
    return fn;
  }

  private outputFailed(text: string, ctx: CheckContext, reason: string): StageOutput {
    if (this.def.on_fail === 'log') {
      this.report('post_call', 'log', ctx, reason);
      return { text };
    }
    this.report('post_call', 'block', ctx, reason);
    return { text: '', violation: { guardrail: this.name, reason } };
  }

  private callWebhook(payload: unknown): Promise<WebhookAnswer> {
    if (this.def.kind !== 'webhook') throw new Error('not a webhook guardrail');
    const call = { url: this.def.url, headers: this.def.headers, timeoutMs: this.def.timeout_ms };
    return (this.deps.webhook ?? callWebhook)(call, payload);
  }

  private webhookFailed(mode: GuardrailMode, ctx: CheckContext, err: unknown): InputVerdict {
    const failure = err instanceof Error ? err.message : String(err);
    if (this.def.kind === 'webhook' && this.def.on_error === 'open') {
      this.report(mode, 'error_open', ctx, failure);
      return { action: 'pass' };
    }
    this.report(mode, 'error_closed', ctx, failure);
    return { action: 'unavailable', violation: { guardrail: this.name, reason: failure, unavailable: true } };
  }

  private pass(mode: GuardrailMode, ctx: CheckContext): InputVerdict {
    this.report(mode, 'pass', ctx);
    return { action: 'pass' };
  }

  private block(mode: GuardrailMode, ctx: CheckContext, reason: string): InputVerdict {
    this.report(mode, 'block', ctx, reason);
    return { action: 'block', violation: { guardrail: this.name, reason } };
  }

  /** block, or only log when the guardrail is configured with `on_fail: log`. */
  private failed(mode: GuardrailMode, ctx: CheckContext, reason: string): InputVerdict {
    if (this.def.on_fail === 'log') {
      this.report(mode, 'log', ctx, reason);
      return { action: 'pass' };
    }
    return this.block(mode, ctx, reason);
  }
}

function labels(spans: Span[]): string {
  return [...new Set(spans.map((s) => s.label))].join(',');
}

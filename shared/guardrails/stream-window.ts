// Output checks over a stream: each stage holds back the last N characters (N = the longest match its
// scanner can report) and releases only text that can no longer be part of a match, so a blocked
// phrase or a PII value split across chunks is still caught before any of it reaches the client.
import { maskSpans, type Span, type TextScanner } from './scanners.ts';

export interface Violation {
  guardrail: string;
  reason: string;
  /** The guardrail could not decide and fails closed (503 guardrail_unavailable, not 400 guardrail_blocked). */
  unavailable?: boolean;
}

export interface StageOutput {
  /** Text that passed and may be sent on. */
  text: string;
  violation?: Violation;
}

export interface TextStage {
  push(text: string): StageOutput;
  /** The stream ended: release (or refuse) what is held. */
  end(): StageOutput | Promise<StageOutput>;
}

export type OnFail = 'block' | 'mask' | 'log';

export interface WindowOptions {
  name: string;
  scanner: TextScanner;
  onFail: OnFail;
  /** Called for each match that is masked or logged, and for the match that blocks. */
  onMatch?: (outcome: OnFail, spans: Span[]) => void;
}

export class WindowStage implements TextStage {
  private held = '';
  private readonly opts: WindowOptions;
  constructor(opts: WindowOptions) {
    this.opts = opts;
  }

  /** Characters currently held back (for tests and the TTFT measurement). */
  get heldChars(): number {
    return this.held.length;
  }

  push(text: string): StageOutput {
    this.held += text;
    // A match not seen whole yet can only start in the last `hold` characters.
    const { scanner } = this.opts;
    return this.release(this.held.length - (scanner.holdFor ? scanner.holdFor(this.held) : scanner.maxMatchChars));
  }

  end(): StageOutput {
    return this.release(this.held.length);
  }

  private release(upTo: number): StageOutput {
    const spans = this.opts.scanner.scan(this.held);
    if (spans.length > 0 && this.opts.onFail === 'block') {
      this.opts.onMatch?.('block', spans.slice(0, 1));
      this.held = '';
      return { text: '', violation: { guardrail: this.opts.name, reason: `matched ${spans[0]!.label}` } };
    }
    let cut = Math.max(0, upTo);
    // Never cut through a match: it is masked (or logged) whole once it is released.
    for (const s of spans) if (s.start < cut && s.end > cut) cut = s.start;
    if (cut === 0) return { text: '' };
    const done = spans.filter((s) => s.end <= cut);
    const out = this.held.slice(0, cut);
    this.held = this.held.slice(cut);
    if (done.length > 0) this.opts.onMatch?.(this.opts.onFail, done);
    return { text: this.opts.onFail === 'mask' ? maskSpans(out, done) : out };
  }
}

/** Holds the whole answer and checks it once at the end (webhook, JSON schema). */
export class WholeAnswerStage implements TextStage {
  private held = '';
  private readonly check: (text: string) => Promise<StageOutput>;
  constructor(check: (text: string) => Promise<StageOutput>) {
    this.check = check;
  }
  push(text: string): StageOutput {
    this.held += text;
    return { text: '' };
  }
  end(): Promise<StageOutput> {
    return this.check(this.held);
  }
}

/** Stages in order: what one releases is what the next sees. */
export class StagePipeline implements TextStage {
  private readonly stages: TextStage[];
  constructor(stages: TextStage[]) {
    this.stages = stages;
  }

  get length(): number {
    return this.stages.length;
  }

  push(text: string): StageOutput {
    let carry = text;
    for (const stage of this.stages) {
      if (carry === '') return { text: '' };
      const out = stage.push(carry);
      if (out.violation) return out;
      carry = out.text;
    }
    return { text: carry };
  }

  async end(): Promise<StageOutput> {
    let carry = '';
    for (const stage of this.stages) {
      const pushed = carry ? stage.push(carry) : { text: '' };
      if (pushed.violation) return pushed;
      const ended = await stage.end();
      if (ended.violation) return ended;
      carry = pushed.text + ended.text;
    }
    return { text: carry };
  }
}

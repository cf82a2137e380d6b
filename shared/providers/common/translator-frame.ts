// The push/end frame every stream translator shares. A translator parses upstream text into parts it
// pushes onto `out`; each push hands back what that text produced, and the end of the body adds a
// `truncatedStream` error when the wire format's own ending never came (a cut-off connection must not
// look like a short answer).
import type { StreamPart, StreamTranslator } from '../types.ts';
import { truncatedStream } from './stream-errors.ts';

export interface TranslatorCore {
  /** Parses one piece of upstream text; parts go onto the translator's `out`. */
  feed(text: string): void;
  /** The upstream body ended: parse what is still buffered (e.g. a last line without a newline). */
  flush?(): void;
  /** True once the stream reached its proper end or has already reported its failure. */
  settled(): boolean;
}

export function translatorFrame(out: StreamPart[], core: TranslatorCore): StreamTranslator {
  return {
    push(text) {
      core.feed(text);
      return out.splice(0);
    },
    end() {
      core.flush?.();
      const parts = out.splice(0);
      if (!core.settled()) parts.push(truncatedStream());
      return parts;
    },
  };
}

// How a stream's events are stored in LLM_EVENTS and read back. A message holds one event, or a JSON
// array of a stream's events in order: a stream whose ingress is in the worker's own process gets its
// events in memory and they are stored in batches (services/worker/local-stream.ts). Every reader
// decodes through decodeStoredEvents.
//
// In a batch, a run of plain text chunks (nothing but `content`, or nothing but `reasoning_content`,
// seqs following each other) is one record, {"type":"texts","seq":first,"attempt":n,"content":[...]},
// read back as the chunk events it stands for. A token is a few bytes of text and its chunk event
// about 60 bytes of JSON, so a stored stream takes about a quarter of the bytes and the same
// EVENTS_MAX_BYTES holds a longer resume window (docs/benchmarks.md,
// "compactstore"). Readers see only chunk events.
//
// A resumable stream's first message on its subject is its owner record, `[{"type":"owner","owner":{...}}]`
// (who may read it back, services/ingress/resumable.ts), published by the ingress before the request.
// On the events' own subject it costs nats-server one message, where a KV bucket of its own cost a
// second subject per stream in every index (docs/benchmarks.md, levers row "ownerinevents"). It is an
// array so the ingress's event router drops it at the first byte; decodeStoredEvents skips it.
import type { ChunkEvent, StreamEvent } from '../protocol/events.ts';

const dec = new TextDecoder();
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

type TextField = 'content' | 'reasoning_content';

/** Keys of `o`, a plain object here (for-in: no array allocated for a check made per streamed token). */
function keyCount(o: object): number {
  let n = 0;
  for (const _ in o) n++;
  return n;
}

/** The text field of a chunk event that holds nothing else (type, delta, seq, attempt), or null. */
function plainTextField(ev: StreamEvent): TextField | null {
  if (ev.type !== 'chunk' || keyCount(ev) !== 4 || keyCount(ev.delta) !== 1) return null;
  if (typeof ev.delta.content === 'string') return 'content';
  if (typeof ev.delta.reasoning_content === 'string') return 'reasoning_content';
  return null;
}

/** A run of plain text chunks with consecutive seqs, as one stored record. */
interface TextRun {
  field: TextField;
  seq: number;
  attempt: number;
  texts: string[];
}

/** A stored batch being built, event by event: runs of plain text chunks become one record each (take() gives the JSON array). */
export class StoredBatch {
  private parts: string[] = [];
  private run: TextRun | null = null;
  /** Events added since the last take(). */
  events = 0;
  /** Length of the batch's JSON so far, about (the run being built counts its text). */
  chars = 0;

  add(ev: StreamEvent): void {
    this.events++;
    const field = plainTextField(ev);
    // Only a plain text chunk has a field, and its text is that field's string.
    const text = field ? ((ev as ChunkEvent).delta[field] as string) : '';
    const run = this.run;
    if (field && run && run.field === field && run.attempt === ev.attempt && run.seq + run.texts.length === ev.seq) {
      run.texts.push(text);
      this.chars += text.length + 3;
      return;
    }
    this.endRun();
    if (field) {
      this.run = { field, seq: ev.seq, attempt: ev.attempt, texts: [text] };
      this.chars += text.length + 40;
    } else {
      const json = JSON.stringify(ev);
      this.parts.push(json);
      this.chars += json.length + 1;
    }
  }

  /** The batch as a JSON array; the builder is empty again. */
  take(): string {
    this.endRun();
    const batch = `[${this.parts.join(',')}]`;
    this.parts = [];
    this.events = 0;
    this.chars = 0;
    return batch;
  }

  private endRun(): void {
    const run = this.run;
    if (!run) return;
    this.parts.push(`{"type":"texts","seq":${run.seq},"attempt":${run.attempt},"${run.field}":${JSON.stringify(run.texts)}}`);
    this.run = null;
  }
}

const OWNER_TYPE = 'owner';

/** The stored owner record of a stream (see the top of this file). */
export function encodeOwnerRecord(owner: object): string {
  return `[{"type":"${OWNER_TYPE}","owner":${JSON.stringify(owner)}}]`;
}

/** The owner a stored message holds, or null when it is not an owner record. */
export function decodeOwnerRecord(data: Uint8Array): Record<string, unknown> | null {
  // Cheap test first: a stream's other messages are event batches or single events.
  if (data[0] !== 0x5b || data[1] !== 0x7b || data[10] !== 0x6f) return null; // [{"type":"o
  let parsed: unknown;
  try {
    parsed = JSON.parse(dec.decode(data));
  } catch {
    return null;
  }
  if (!Array.isArray(parsed) || parsed.length !== 1) return null;
  const record: unknown = parsed[0];
  return isObject(record) && record.type === OWNER_TYPE && isObject(record.owner) ? record.owner : null;
}

/** The events of one stored message, oldest first; none when it is not JSON or holds no event object (an owner record holds none). */
export function decodeStoredEvents(data: Uint8Array): StreamEvent[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(dec.decode(data));
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return isObject(parsed) && parsed.type !== OWNER_TYPE ? [parsed as unknown as StreamEvent] : [];
  const out: StreamEvent[] = [];
  for (const item of parsed as unknown[]) {
    if (!isObject(item) || item.type === OWNER_TYPE) continue;
    if (item.type !== 'texts') {
      out.push(item as unknown as StreamEvent);
      continue;
    }
    const field: TextField = Array.isArray(item.content) ? 'content' : 'reasoning_content';
    const texts = item[field];
    if (!Array.isArray(texts) || typeof item.seq !== 'number' || typeof item.attempt !== 'number') continue;
    for (let i = 0; i < texts.length; i++) {
      if (typeof texts[i] !== 'string') continue;
      out.push({ type: 'chunk', delta: { [field]: texts[i] as string }, seq: item.seq + i, attempt: item.attempt });
    }
  }
  return out;
}

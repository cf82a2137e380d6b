// Helpers to replay recorded provider traffic: classify a recording, frame `.chunks.jsonl` payloads
// the way the provider frames them on the wire, and feed bytes to a translator in uneven slices.
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { StreamPart, StreamTranslator } from '../../shared/providers/types.ts';
import type { ChunkDelta, Usage } from '../../shared/protocol/events.ts';
import { BUILTIN_PROVIDER_NAMES } from '../../shared/providers/registry.ts';

export const FIXTURES_DIR = path.resolve(process.cwd(), '../shared/fixtures');
/** Recordings are kept per built-in provider (a fixtures folder each). */
export const PROVIDERS: readonly string[] = BUILTIN_PROVIDER_NAMES;

export type RecordingKind = 'error' | 'embeddings' | 'chat' | 'stream';
export interface Recording {
  provider: string;
  file: string;
  path: string;
  kind: RecordingKind;
  /** Gemini's OpenAI-compatible surface is replayed through the OpenAI adapter. */
  dialect: string;
  meta: { status?: number; headers: Record<string, string> };
}

export function classify(provider: string, file: string): Recording | null {
  if (file.endsWith('.meta.json') || file.endsWith('.md')) return null;
  const full = path.join(FIXTURES_DIR, provider, file);
  const dialect = file.startsWith('openai_compat_') ? 'openai' : provider;
  const metaPath = full.replace(/(\.chunks\.jsonl|\.json|\.sse|\.ndjson)$/, '.meta.json');
  const metaJson = existsSync(metaPath)
    ? (JSON.parse(readFileSync(metaPath, 'utf8')) as { response?: { status?: { code?: number }; headers?: Record<string, unknown> } })
    : {};
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(metaJson.response?.headers ?? {}))
    headers[k.toLowerCase()] = Array.isArray(v) ? String(v[0]) : String(v);
  const statusFromName = /^error_(\d{3})/.exec(file)?.[1];
  const meta = { status: metaJson.response?.status?.code ?? (statusFromName ? Number(statusFromName) : undefined), headers };
  let kind: RecordingKind;
  if (/^error_/.test(file) && file.endsWith('.json')) kind = 'error';
  else if (/embed/.test(file)) kind = 'embeddings';
  else if (/\.sse$|\.ndjson$|\.chunks\.jsonl$/.test(file) || /(^|_)stream_/.test(file)) kind = 'stream';
  else kind = 'chat';
  return { provider, file, path: full, kind, dialect, meta };
}

/** The bytes of a streaming recording as they would come over the wire. */
export function wireBytes(rec: Recording): string {
  const raw = readFileSync(rec.path, 'utf8');
  if (!rec.file.endsWith('.chunks.jsonl')) return raw;
  const lines = raw.split('\n').filter((l) => l.trim() !== '');
  if (rec.dialect === 'anthropic') return lines.map((l) => `event: ${(JSON.parse(l) as { type: string }).type}\ndata: ${l}\n\n`).join('');
  if (rec.dialect === 'gemini') return lines.map((l) => `data: ${l}\r\n\r\n`).join('');
  return lines.map((l) => `data: ${l}\n\n`).join('') + 'data: [DONE]\n\n';
}

/** Deterministic uneven slices, so frame boundaries fall mid-line, mid-JSON and mid-UTF-8 character. */
export function slices(text: string, seed = 7): string[] {
  const bytes = Buffer.from(text, 'utf8');
  const out: Buffer[] = [];
  let x = seed;
  for (let i = 0; i < bytes.length;) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const n = 1 + (x % 97);
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  const dec = new TextDecoder();
  return out.map((b, i) => dec.decode(b, { stream: i < out.length - 1 }));
}

export interface Assembled {
  content: string;
  reasoning: string;
  toolCalls: Array<{ id: string; name: string; arguments: string }>;
  finish: string | null;
  usage: Usage | null;
  error: (StreamPart & { type: 'error' }) | null;
  parts: StreamPart[];
}

/** What an OpenAI client would assemble from the translator's parts. */
export function runTranslator(t: StreamTranslator, text: string, seed?: number): Assembled {
  const parts: StreamPart[] = [];
  for (const s of slices(text, seed)) parts.push(...t.push(s));
  parts.push(...t.end());
  return assemble(parts);
}

export function assemble(parts: StreamPart[]): Assembled {
  const a: Assembled = { content: '', reasoning: '', toolCalls: [], finish: null, usage: null, error: null, parts };
  for (const p of parts) {
    if (a.error) break; // the worker stops at the first error
    if (p.type === 'delta') applyDelta(a, p.delta);
    else if (p.type === 'finish') a.finish = p.finish_reason;
    else if (p.type === 'usage') a.usage = p.usage;
    else a.error = p;
  }
  return a;
}

function applyDelta(a: Assembled, d: ChunkDelta) {
  if (d.content) a.content += d.content;
  if (d.reasoning_content) a.reasoning += d.reasoning_content;
  for (const tc of d.tool_calls ?? []) {
    const slot = (a.toolCalls[tc.index] ??= { id: '', name: '', arguments: '' });
    if (tc.id) slot.id = tc.id;
    if (tc.function?.name) slot.name += tc.function.name;
    if (tc.function?.arguments) slot.arguments += tc.function.arguments;
  }
}

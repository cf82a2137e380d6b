// Files (Batch API input, output and error files) stored in Postgres as ordered 1 MiB chunks. Uploads
// and downloads stream chunk by chunk, so memory stays bounded by one chunk whatever the file size;
// Postgres is already the durable store every process shares, so files survive any restart.
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

export const CHUNK_BYTES = 1024 * 1024;

/** A database handle or a transaction on it. */
export type DbExec = Kysely<Database>;

export function newFileId(): string {
  return `file-${randomBytes(12).toString('hex')}`;
}

export interface FileRow {
  id: string;
  tenant_id: string;
  purpose: string;
  filename: string;
  bytes: string;
  line_count: number;
  meta: { endpoints: string[] } | null;
  created_at: Date;
}

/** The OpenAI `file` object. */
export function fileObject(f: Pick<FileRow, 'id' | 'purpose' | 'filename' | 'bytes' | 'created_at'>) {
  return {
    id: f.id,
    object: 'file' as const,
    bytes: Number(f.bytes),
    created_at: Math.floor(new Date(f.created_at).getTime() / 1000),
    filename: f.filename,
    purpose: f.purpose,
    status: 'processed' as const,
    expires_at: null,
    status_details: null,
  };
}

export async function getFile(db: DbExec, tenantId: string, id: string): Promise<FileRow | undefined> {
  return db
    .selectFrom('files')
    .select(['id', 'tenant_id', 'purpose', 'filename', 'bytes', 'line_count', 'meta', 'created_at'])
    .where('id', '=', id)
    .where('tenant_id', '=', tenantId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
}

/** Appends bytes to a file as chunk rows; call finish() once, then insert the `files` row. */
export class ChunkSink {
  private readonly db: DbExec;
  readonly fileId: string;
  private buf: Buffer[] = [];
  private size = 0;
  private chunkNo = 0;
  bytes = 0;

  constructor(db: DbExec, fileId: string) {
    this.db = db;
    this.fileId = fileId;
  }

  async write(data: Buffer | string): Promise<void> {
    const b = typeof data === 'string' ? Buffer.from(data) : data;
    this.buf.push(b);
    this.size += b.length;
    this.bytes += b.length;
    if (this.size >= CHUNK_BYTES) await this.flush(false);
  }

  async finish(): Promise<void> {
    await this.flush(true);
  }

  private async flush(all: boolean): Promise<void> {
    let whole = Buffer.concat(this.buf, this.size);
    this.buf = [];
    this.size = 0;
    while (whole.length >= CHUNK_BYTES || (all && whole.length > 0)) {
      const piece = whole.subarray(0, CHUNK_BYTES);
      await this.db.insertInto('file_chunks').values({ file_id: this.fileId, chunk_no: this.chunkNo++, data: piece }).execute();
      whole = whole.subarray(piece.length);
    }
    if (whole.length > 0) {
      this.buf.push(whole);
      this.size = whole.length;
    }
  }
}

/** The file's bytes, one chunk (<= 1 MiB) at a time. */
export async function* readChunks(db: DbExec, fileId: string): AsyncGenerator<Buffer> {
  for (let n = 0; ; n++) {
    const row = await db
      .selectFrom('file_chunks')
      .select('data')
      .where('file_id', '=', fileId)
      .where('chunk_no', '=', n)
      .executeTakeFirst();
    if (!row) return;
    // PGlite returns bytea as a plain Uint8Array (pg a Buffer); wrap it without copying.
    const data: Uint8Array = row.data;
    yield Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }
}

export interface Line {
  /** 1-based position among the non-blank lines: the request's index in a batch. */
  index: number;
  /** 1-based physical line number, for messages. */
  lineNo: number;
  text: string;
}

export class LineTooLongError extends Error {
  readonly lineNo: number;
  constructor(lineNo: number) {
    super(`line ${lineNo} is too long`);
    this.lineNo = lineNo;
  }
}

/**
 * Push-based line splitter: holds at most one partial line, as a list of chunk pieces that are
 * concatenated once when its newline arrives. (Concatenating a carry buffer on every chunk made a 30 MB
 * line cost quadratic copying and stalled the whole process for ~40 s.) A line over `maxLineBytes`
 * throws LineTooLongError as soon as that many bytes are seen, before its end arrives.
 */
export class LineSplitter {
  private readonly maxLineBytes: number;
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private lineNo = 0;
  private index = 0;

  constructor(maxLineBytes = Infinity) {
    this.maxLineBytes = maxLineBytes;
  }

  push(chunk: Buffer): Line[] {
    const out: Line[] = [];
    let from = 0;
    let nl: number;
    while ((nl = chunk.indexOf(10, from)) !== -1) {
      const piece = chunk.subarray(from, nl);
      this.checkLength(this.partialBytes + piece.length);
      const raw = this.partialBytes ? Buffer.concat([...this.partial, piece], this.partialBytes + piece.length) : piece;
      this.partial = [];
      this.partialBytes = 0;
      const line = this.emit(raw);
      if (line) out.push(line);
      from = nl + 1;
    }
    if (from < chunk.length) {
      this.checkLength(this.partialBytes + chunk.length - from);
      // Copy, so a small remainder does not pin the whole chunk; each byte is copied once.
      this.partial.push(Buffer.from(chunk.subarray(from)));
      this.partialBytes += chunk.length - from;
    }
    return out;
  }

  /** The last line, when the input does not end with a newline. */
  end(): Line[] {
    if (!this.partialBytes) return [];
    const raw = Buffer.concat(this.partial, this.partialBytes);
    this.partial = [];
    this.partialBytes = 0;
    const line = this.emit(raw);
    return line ? [line] : [];
  }

  private checkLength(bytes: number): void {
    if (bytes > this.maxLineBytes) throw new LineTooLongError(this.lineNo + 1);
  }

  private emit(raw: Buffer): Line | null {
    this.lineNo++;
    let text = raw.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (text.trim() === '') return null;
    return { index: ++this.index, lineNo: this.lineNo, text };
  }
}

/** Splits a byte stream into lines without holding more than one chunk and one partial line. */
export async function* splitLines(chunks: AsyncIterable<Buffer>, maxLineBytes = Infinity): AsyncGenerator<Line> {
  const splitter = new LineSplitter(maxLineBytes);
  for await (const chunk of chunks) yield* splitter.push(chunk);
  yield* splitter.end();
}

export function readLines(db: DbExec, fileId: string): AsyncGenerator<Line> {
  return splitLines(readChunks(db, fileId));
}

export async function deleteFile(db: DbExec, tenantId: string, id: string): Promise<boolean> {
  const res = await db
    .updateTable('files')
    .set({ deleted_at: new Date() })
    .where('id', '=', id)
    .where('tenant_id', '=', tenantId)
    .where('deleted_at', 'is', null)
    // `returning`, not numUpdatedRows: the PGlite dialect reports no affected-row counts (always 0).
    .returning('id')
    .executeTakeFirst();
  if (!res) return false;
  await db.deleteFrom('file_chunks').where('file_id', '=', id).execute();
  return true;
}

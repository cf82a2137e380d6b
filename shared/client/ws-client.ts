// A small typed client for Switchyard's WebSocket API (docs/websocket.md). Runs on the standard
// WebSocket (browsers, Node >= 22), so it authenticates with the `bearer.<key>` subprotocol.
import {
  WS_SUBPROTOCOL,
  wsServerMessageSchema,
  type WsChunk,
  type WsClientMessage,
  type WsDone,
  type WsError,
  type WsServerMessage,
} from '../protocol/websocket.ts';

export interface WsClientOptions {
  /** Check every server frame against the protocol schema (default true). */
  validate?: boolean;
  /** Protocol prefix for the key: `bearer.` (default) or `openai-insecure-api-key.`. */
  keyProtocol?: 'bearer.' | 'openai-insecure-api-key.';
}

export interface ChatResult {
  id: string;
  requestId: string;
  content: string;
  chunks: WsChunk[];
  done: WsDone;
}

export class WsRequestError extends Error {
  readonly frame: WsError;
  constructor(frame: WsError) {
    super(frame.error.message);
    this.frame = frame;
  }
}

export interface ChatHandle {
  id: string;
  /** The server's request id (for resume), once accepted. */
  requestId: Promise<string>;
  result: Promise<ChatResult>;
  cancel(): void;
}

interface Pending {
  requestId?: string;
  content: string;
  chunks: WsChunk[];
  onChunk?: (c: WsChunk) => void;
  accepted: (requestId: string) => void;
  resolve: (r: ChatResult) => void;
  reject: (e: Error) => void;
}

export class SwitchyardWsClient {
  private readonly ws: WebSocket;
  private readonly pending = new Map<string, Pending>();
  private readonly pongs: Array<(data: unknown) => void> = [];
  private readonly validate: boolean;
  private seq = 0;
  /** Frames that were not about any request (errors with id null). */
  readonly socketErrors: WsError[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(ws: WebSocket, opts: WsClientOptions) {
    this.ws = ws;
    this.validate = opts.validate ?? true;
    ws.addEventListener('message', (e) => this.onMessage(String(e.data)));
    this.closed = new Promise((resolve) =>
      ws.addEventListener('close', (e) => {
        const err = new Error(`socket closed (${e.code} ${e.reason})`);
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        resolve({ code: e.code, reason: e.reason });
      }),
    );
  }

  /** Opens `ws(s)://host/v1/ws`; `baseUrl` may be the http(s) URL of the server. */
  static connect(baseUrl: string, apiKey: string, opts: WsClientOptions = {}): Promise<SwitchyardWsClient> {
    const url = `${baseUrl.replace(/^http/, 'ws').replace(/\/+$/, '')}/v1/ws`;
    const ws = new WebSocket(url, [WS_SUBPROTOCOL, `${opts.keyProtocol ?? 'bearer.'}${apiKey}`]);
    return new Promise((resolve, reject) => {
      ws.addEventListener(
        'open',
        () => {
          // The server answers with the fixed protocol name, never the key protocol (which would echo the key).
          if (ws.protocol !== WS_SUBPROTOCOL) {
            ws.close();
            reject(new Error(`${url} answered subprotocol '${ws.protocol}', expected '${WS_SUBPROTOCOL}'`));
            return;
          }
          resolve(new SwitchyardWsClient(ws, opts));
        },
        { once: true },
      );
      ws.addEventListener('error', () => reject(new Error(`WebSocket connection to ${url} failed`)), { once: true });
    });
  }

  get protocol(): string {
    return this.ws.protocol;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /** Starts a streamed chat completion; `body` is a chat completions request body. */
  chat(body: Record<string, unknown>, opts: { id?: string; onChunk?: (c: WsChunk) => void } = {}): ChatHandle {
    const id = opts.id ?? `c${++this.seq}`;
    return this.track(id, { type: 'create', id, body }, opts.onChunk);
  }

  /** Continues a request (possibly started on another socket or over SSE) after `afterSeq`. */
  resume(requestId: string, afterSeq: number, opts: { id?: string; onChunk?: (c: WsChunk) => void } = {}): ChatHandle {
    const id = opts.id ?? `r${++this.seq}`;
    const handle = this.track(id, { type: 'resume', id, request_id: requestId, after_seq: afterSeq }, opts.onChunk);
    this.pending.get(id)!.requestId = requestId;
    return handle;
  }

  /** Application-level ping; resolves with the round trip in ms. */
  async ping(): Promise<number> {
    const t = performance.now();
    const pong = new Promise((r) => this.pongs.push(r));
    this.send({ type: 'ping', data: t });
    await pong;
    return performance.now() - t;
  }

  /** Sends a raw protocol message (tests use it for malformed ones). */
  send(msg: WsClientMessage | Record<string, unknown>): void {
    this.ws.send(JSON.stringify(msg));
  }

  close(): void {
    this.ws.close(1000);
  }

  private track(id: string, msg: WsClientMessage, onChunk?: (c: WsChunk) => void): ChatHandle {
    if (this.pending.has(id)) throw new Error(`request id '${id}' is already in use on this socket`);
    let accepted!: (requestId: string) => void;
    const requestId = new Promise<string>((r) => (accepted = r));
    const result = new Promise<ChatResult>((resolve, reject) => {
      this.pending.set(id, { content: '', chunks: [], accepted, resolve, reject, ...(onChunk ? { onChunk } : {}) });
    });
    if (msg.type === 'resume') accepted(msg.request_id);
    result.catch(() => {}); // callers may only await requestId
    this.send(msg);
    return { id, requestId, result, cancel: () => this.send({ type: 'cancel', id }) };
  }

  private onMessage(text: string): void {
    let msg: WsServerMessage;
    if (this.validate) {
      const parsed = wsServerMessageSchema.safeParse(JSON.parse(text));
      if (!parsed.success) throw new Error(`server frame does not match the protocol: ${parsed.error.message}`);
      msg = parsed.data;
    } else msg = JSON.parse(text) as WsServerMessage;
    if (msg.type === 'pong') {
      this.pongs.shift()?.(msg.data);
      return;
    }
    if (msg.type === 'error' && msg.id === null) {
      this.socketErrors.push(msg);
      return;
    }
    const p = this.pending.get(msg.id!);
    if (!p) return;
    switch (msg.type) {
      case 'accepted':
        p.requestId = msg.request_id;
        p.accepted(msg.request_id);
        break;
      case 'chunk':
        p.chunks.push(msg);
        p.content += msg.delta.content ?? '';
        p.onChunk?.(msg);
        break;
      case 'done':
        this.pending.delete(msg.id);
        p.resolve({ id: msg.id, requestId: p.requestId ?? '', content: p.content, chunks: p.chunks, done: msg });
        break;
      case 'error':
        this.pending.delete(msg.id!);
        p.reject(new WsRequestError(msg));
        break;
    }
  }
}

// A minimal Chrome DevTools Protocol client for a Node process started with --inspect=<host:port>:
// the hostile-shapes test reads the live heap through it, bench/profile.ts samples allocations.
export class Inspector {
  private id = 0;
  private readonly pending = new Map<number, (reply: { result?: unknown; error?: unknown }) => void>();
  private readonly ws: WebSocket;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.addEventListener('message', (e) => {
      const m = JSON.parse(String(e.data)) as { id?: number; result?: unknown; error?: unknown };
      if (m.id !== undefined) this.pending.get(m.id)?.(m);
    });
  }

  static async connect(inspectPort: number): Promise<Inspector> {
    const targets = (await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
    const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl);
    await new Promise((resolve, reject) => {
      ws.addEventListener('open', resolve, { once: true });
      ws.addEventListener('error', reject, { once: true });
    });
    return new Inspector(ws);
  }

  async call<T = unknown>(method: string, params: object = {}): Promise<T> {
    const id = ++this.id;
    const reply = await new Promise<{ result?: unknown; error?: unknown }>((resolve) => {
      this.pending.set(id, resolve);
      this.ws.send(JSON.stringify({ id, method, params }));
    });
    this.pending.delete(id);
    if (reply.error) throw new Error(`${method}: ${JSON.stringify(reply.error)}`);
    return reply.result as T;
  }

  /** Live heap in MB after full collections (three: weak references and finalizers settle). */
  async liveHeapMb(): Promise<number> {
    for (let i = 0; i < 3; i++) await this.call('HeapProfiler.collectGarbage');
    const r = await this.call<{ result: { value: number } }>('Runtime.evaluate', {
      expression: 'process.memoryUsage().heapUsed',
      returnByValue: true,
    });
    return r.result.value / 1048576;
  }

  close(): void {
    this.ws.close();
  }
}

// Open WebSockets per API key on this ingress. A socket outlives the auth check made at its upgrade,
// so the key's later fate must reach it: a revocation (broadcast to every ingress) closes all of the
// key's sockets. The count also caps how many sockets one key may hold open (WS_MAX_SOCKETS_PER_KEY),
// so one tenant cannot pin an ingress's memory and file descriptors.
export class KeySockets {
  /** Sockets opened or being upgraded, per key id (counted from the upgrade request on). */
  private readonly counts = new Map<string, number>();
  private readonly closers = new Map<string, Set<() => void>>();
  private readonly maxPerKey: number;

  constructor(maxPerKey: number) {
    this.maxPerKey = maxPerKey;
  }

  /** Takes a slot for a socket of `keyId`; false when the key already holds its maximum. */
  reserve(keyId: string): boolean {
    const n = this.counts.get(keyId) ?? 0;
    if (n >= this.maxPerKey) return false;
    this.counts.set(keyId, n + 1);
    return true;
  }

  release(keyId: string): void {
    const n = (this.counts.get(keyId) ?? 1) - 1;
    if (n <= 0) this.counts.delete(keyId);
    else this.counts.set(keyId, n);
  }

  /** Registers an open socket to be closed when its key is revoked; returns the unregister function. */
  track(keyId: string, close: () => void): () => void {
    let set = this.closers.get(keyId);
    if (!set) this.closers.set(keyId, (set = new Set()));
    set.add(close);
    return () => {
      set.delete(close);
      if (set.size === 0 && this.closers.get(keyId) === set) this.closers.delete(keyId);
    };
  }

  /** Keys with at least one open socket. */
  keyIds(): string[] {
    return [...this.closers.keys()];
  }

  revoked(keyId: string): void {
    for (const close of [...(this.closers.get(keyId) ?? [])]) close();
  }
}

// Bearer-key authentication: SHA-256 of the presented key, looked up in Postgres and cached.
// Revocations are broadcast on NATS so every ingress drops a revoked key at once, not at cache expiry.
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { findKeyByHash, hashApiKey, type KeyPrincipal } from '../../shared/db/api-keys.ts';
import type { Db } from '../../shared/db/database.ts';
import { subjects } from '../../shared/nats/topology.ts';
import { errors } from '../../shared/protocol/errors.ts';

interface CacheEntry {
  principal: KeyPrincipal | null;
  expires: number;
}

export class KeyAuthenticator {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly sub: Subscription;
  private readonly db: Db;
  private readonly ttlMs: number;

  constructor(db: Db, nc: NatsConnection, ttlMs: number) {
    this.db = db;
    this.ttlMs = ttlMs;
    this.sub = nc.subscribe(subjects.keyRevoked, {
      callback: () => {
        // The message names a key id; hashes are what we cache, so drop everything (revocations are rare).
        this.cache.clear();
      },
    });
  }

  /** Returns the principal or throws the OpenAI-style 401. */
  async authenticate(authorization: string | undefined): Promise<KeyPrincipal> {
    if (!authorization) throw errors.missingKey();
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m) throw errors.missingKey();
    const hash = hashApiKey(m[1]!);
    const now = Date.now();
    let entry = this.cache.get(hash);
    if (!entry || entry.expires < now) {
      const principal = await findKeyByHash(this.db, hash);
      // Unknown keys are cached briefly too, so a flood of bad keys does not become a flood of queries.
      entry = { principal, expires: now + (principal ? this.ttlMs : Math.min(this.ttlMs, 2_000)) };
      if (this.cache.size > 100_000) this.cache.clear();
      this.cache.set(hash, entry);
    }
    const p = entry.principal;
    if (!p) throw errors.invalidKey();
    if (p.expiresAt && p.expiresAt.getTime() <= now) throw errors.invalidKey();
    return p;
  }

  invalidate(): void {
    this.cache.clear();
  }

  close(): void {
    this.sub.unsubscribe();
  }
}

// The ingress key cache (services/ingress/auth.ts) on a real database and NATS: a hit is keyed by the
// exact Authorization header, a revocation broadcast drops it at once, and a huge bogus header is
// refused without its bytes being kept.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { KeyAuthenticator } from '../../services/ingress/auth.ts';
import { createKey, createTenant, revokeKey } from '../../shared/db/tenants.ts';
import { subjects } from '../../shared/nats/topology.ts';
import { waitFor } from '../harness/ports.ts';

let stack: Stack;
let auth: KeyAuthenticator;
beforeAll(async () => {
  stack = await startStack({ ingress: false, worker: false, ledger: false });
  auth = new KeyAuthenticator(stack.db, stack.runtime.nats.nc, 60_000);
});
afterAll(async () => {
  auth?.close();
  await stack?.close();
});

const cacheKeys = () => [...auth['cache'].keys()];

it('answers a cached key from the header and drops it when the key is revoked', async () => {
  const tenant = await createTenant(stack.db, { name: 'auth-cache' });
  const key = (await createKey(stack.db, tenant.id, {}))!;
  const header = `Bearer ${key.key}`;
  expect((await auth.authenticate(header)).tenantId).toBe(tenant.id);
  expect(cacheKeys()).toContain(header);
  // The scheme is case-insensitive and trailing space is allowed; each spelling is its own entry.
  expect((await auth.authenticate(`bearer ${key.key}  `)).tenantId).toBe(tenant.id);

  await revokeKey(stack.db, key.id);
  stack.runtime.nats.nc.publish(subjects.keyRevoked, JSON.stringify({ key_id: key.id }));
  await waitFor(() => cacheKeys().length === 0, { what: 'cache emptied by the revocation broadcast' });
  await expect(auth.authenticate(header)).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' });
});

it('refuses malformed and huge headers, keeping no header longer than a key in the cache', async () => {
  await expect(auth.authenticate('Basic abc')).rejects.toMatchObject({ status: 401 });
  const huge = `Bearer sk-${'x'.repeat(10_000)}`;
  await expect(auth.authenticate(huge)).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' });
  expect(cacheKeys().every((k) => k.length <= 256)).toBe(true);
  // Still refused from the cache (keyed by its hash), not looked up again as a different key.
  await expect(auth.authenticate(huge)).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' });
});

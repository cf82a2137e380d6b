// The nats-server `npm start` runs beside Switchyard gets one Go scheduler thread and a tighter Go heap
// unless the operator chose otherwise (scripts/ensure-services.mjs; docs/benchmarks.md, levers
// "natsprocs1" and "natsgogc50, again").
import { describe, expect, it } from 'vitest';
import { embeddedNatsEnv } from '../../scripts/ensure-services.mjs';

describe('embeddedNatsEnv', () => {
  it('sets GOMAXPROCS=1 and GOGC=50 and keeps the rest of the environment', () => {
    expect(embeddedNatsEnv({ PATH: '/bin', GODEBUG: 'x=1' })).toEqual({ PATH: '/bin', GODEBUG: 'x=1', GOMAXPROCS: '1', GOGC: '50' });
  });

  it("keeps an operator's GOMAXPROCS and GOGC", () => {
    expect(embeddedNatsEnv({ GOMAXPROCS: '4', GOGC: '100' })).toMatchObject({ GOMAXPROCS: '4', GOGC: '100' });
  });

  it('does not change the environment it is given', () => {
    const env = { PATH: '/bin' };
    embeddedNatsEnv(env);
    expect(env).toEqual({ PATH: '/bin' });
  });
});

// The nats-server `npm start` runs beside Switchyard gets one Go scheduler thread unless the operator
// chose otherwise (scripts/ensure-services.mjs; docs/benchmarks.md, lever "natsprocs1").
import { describe, expect, it } from 'vitest';
import { embeddedNatsEnv } from '../../scripts/ensure-services.mjs';

describe('embeddedNatsEnv', () => {
  it('sets GOMAXPROCS=1 and keeps the rest of the environment', () => {
    expect(embeddedNatsEnv({ PATH: '/bin', GOGC: '50' })).toEqual({ PATH: '/bin', GOGC: '50', GOMAXPROCS: '1' });
  });

  it("keeps an operator's GOMAXPROCS", () => {
    expect(embeddedNatsEnv({ GOMAXPROCS: '4' }).GOMAXPROCS).toBe('4');
  });

  it('does not change the environment it is given', () => {
    const env = { PATH: '/bin' };
    embeddedNatsEnv(env);
    expect(env).toEqual({ PATH: '/bin' });
  });
});

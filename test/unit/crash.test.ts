// A service process that meets an unhandled rejection or an uncaught exception logs it once (JSON,
// with the stack) and exits 1, so its supervisor restarts it.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

function runWithGuard(fault: string) {
  const script = `
    import { exitOnUnexpectedError } from '${root}shared/runtime/crash.ts';
    import { createLogger } from '${root}shared/telemetry/logger.ts';
    exitOnUnexpectedError(createLogger('crash-test'));
    ${fault}
    setTimeout(() => {}, 2_000);`;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  const lines = res.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string; err?: { message: string; stack: string } });
  return { status: res.status, lines };
}

describe('exitOnUnexpectedError', () => {
  it('logs an unhandled rejection at fatal with its stack and exits 1', () => {
    const { status, lines } = runWithGuard(`void Promise.reject(new Error('boom-rejected'));`);
    expect(status).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 60, msg: 'unhandled promise rejection; exiting', err: { message: 'boom-rejected' } });
    expect(lines[0]!.err!.stack).toContain('boom-rejected');
  });

  it('logs an uncaught exception at fatal and exits 1', () => {
    const { status, lines } = runWithGuard(`setTimeout(() => { throw new Error('boom-thrown'); }, 10);`);
    expect(status).toBe(1);
    expect(lines).toMatchObject([{ level: 60, msg: 'uncaught exception; exiting', err: { message: 'boom-thrown' } }]);
  });
});

// The SIGHUP reload is two-phase: a bad file or one refusing hook changes nothing anywhere.
import { describe, expect, it } from 'vitest';
import { ConfigReload } from '../../shared/runtime/config-reload.ts';
import { parseConfigFile, type FileConfig } from '../../shared/config/file.ts';
import { createLogger } from '../../shared/telemetry/logger.ts';

const log = createLogger('test', 'silent');
const file = (model: string) => parseConfigFile(`models:\n  house:\n    targets:\n      - model: openai/${model}\n`);

describe('ConfigReload', () => {
  it('every hook commits the new file when all accept it', async () => {
    let text: FileConfig | null = file('a');
    const reload = new ConfigReload(() => text, log);
    const seen: string[] = [];
    reload.register({ name: 'one', prepare: (next) => () => seen.push(`one:${next!.models.house!.targets[0]!.model}`) });
    reload.register({ name: 'two', prepare: async (next) => () => seen.push(`two:${next!.models.house!.targets[0]!.model}`) });
    text = file('b');
    expect(await reload.reload()).toBe(true);
    expect(seen).toEqual(['one:b', 'two:b']);
  });

  it('one refusing hook: no hook commits', async () => {
    const reload = new ConfigReload(() => file('b'), log);
    const committed: string[] = [];
    reload.register({ name: 'first', prepare: () => () => committed.push('first') });
    reload.register({
      name: 'picky',
      prepare: () => {
        throw new Error('no');
      },
    });
    expect(await reload.reload()).toBe(false);
    expect(committed).toEqual([]);
  });

  it('an unreadable file: no hook is even asked', async () => {
    const reload = new ConfigReload(() => parseConfigFile('models: [', { source: 'x.yaml' }), log);
    let asked = false;
    reload.register({
      name: 'h',
      prepare: () => {
        asked = true;
        return () => {};
      },
    });
    expect(await reload.reload()).toBe(false);
    expect(asked).toBe(false);
  });

  it('an unregistered hook is not called again', async () => {
    const reload = new ConfigReload(() => null, log);
    let calls = 0;
    const stop = reload.register({ name: 'h', prepare: () => () => calls++ });
    await reload.reload();
    stop();
    await reload.reload();
    expect(calls).toBe(1);
  });
});

// SIGHUP: re-read the config file (SWITCHYARD_CONFIG) without a restart. Every module that keeps
// something derived from the file (aliases, prices, and later guardrails) registers a hook; a reload
// is two-phase so a bad file, or one a hook refuses, changes nothing: all hooks prepare first (and may
// throw), then all commit in the same tick, so a request never sees half of the old file and half of
// the new one. Requests already routed keep what they were routed with.
import type { FileConfig } from '../config/file.ts';
import type { Logger } from '../telemetry/logger.ts';

export interface ReloadHook {
  /** Named in the log line when it refuses a file. */
  name: string;
  /** Checks the new file and builds what it needs; throws to refuse it. Returns the switch-over, which must not fail. */
  prepare(next: FileConfig | null): (() => void) | Promise<() => void>;
}

export class ConfigReload {
  private readonly hooks: ReloadHook[] = [];
  private running: Promise<boolean> | null = null;

  private readonly readFile: () => FileConfig | null;
  private readonly log: Logger;

  constructor(readFile: () => FileConfig | null, log: Logger) {
    this.readFile = readFile;
    this.log = log;
  }

  /** Adds a hook; the returned function removes it (a module that closes must not be reloaded). */
  register(hook: ReloadHook): () => void {
    this.hooks.push(hook);
    return () => {
      const i = this.hooks.indexOf(hook);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  /** True when the new file is in force; false (old config kept, reason logged) when it was refused. */
  reload(): Promise<boolean> {
    // Two SIGHUPs in a row: the second waits for the first rather than interleaving with it.
    const run = (this.running ?? Promise.resolve(true)).then(() => this.apply());
    this.running = run.finally(() => {
      if (this.running === run) this.running = null;
    });
    return run;
  }

  private async apply(): Promise<boolean> {
    let next: FileConfig | null;
    try {
      next = this.readFile();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'config reload refused: the file is invalid; the old config stays in force');
      return false;
    }
    const commits: Array<() => void> = [];
    for (const hook of [...this.hooks]) {
      try {
        commits.push(await hook.prepare(next));
      } catch (err) {
        this.log.error({ hook: hook.name, err: (err as Error).message }, 'config reload refused; the old config stays in force');
        return false;
      }
    }
    for (const commit of commits) commit();
    this.log.info({ hooks: this.hooks.map((h) => h.name), aliases: Object.keys(next?.models ?? {}).length }, 'config reloaded');
    return true;
  }
}

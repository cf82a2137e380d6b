import { pino, type DestinationStream, type Logger } from 'pino';
import { lazyRequire } from '../runtime/lazy-require.ts';
import { scrubSecrets } from './secrets.ts';

export type { Logger };

/** pino-pretty, loaded only for a terminal: a service writing JSON lines never uses it. */
const pinoPretty = lazyRequire<typeof import('pino-pretty')>(import.meta.url, 'pino-pretty');
const prettyStream = (): DestinationStream => pinoPretty().build({ sync: true, ignore: 'pid,hostname' });

/**
 * The process logger: JSON lines (one object per line, for log shippers) unless stdout is a terminal,
 * where the lines are pretty-printed (in this thread and synchronously, so a crash's last line is not
 * lost). `destination` replaces stdout (tests capture lines with it). Every line is scrubbed of
 * upstream keys and key-shaped tokens before it is written: a backstop for upstream text that reaches
 * a log by a path the worker's scrubbing does not see.
 */
export function createLogger(
  service: string,
  level: string = process.env.LOG_LEVEL ?? 'info',
  destination: DestinationStream | null = null,
): Logger {
  const out = destination ?? (process.stdout.isTTY ? prettyStream() : process.stdout);
  const scrubbed: DestinationStream = { write: (line: string) => out.write(scrubSecrets(line)) };
  const root = pino({ level, base: { pid: process.pid } }, scrubbed);
  const log = root.child({ service });
  // pino writes a child's bindings after its parent's without merging, so `child({ service })` on
  // this logger (npm start names its ledger, worker, ... that way) would print `service` twice: a
  // child that names its own service hangs off the root instead.
  const child = log.child.bind(log);
  log.child = ((bindings, options) =>
    'service' in bindings ? root.child(bindings, options) : child(bindings, options)) as Logger['child'];
  return log;
}

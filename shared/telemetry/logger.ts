import { pino, type DestinationStream, type Logger } from 'pino';
import { build as prettyStream } from 'pino-pretty';

export type { Logger };

/**
 * The process logger: JSON lines (one object per line, for log shippers) unless stdout is a terminal,
 * where the lines are pretty-printed (in this thread and synchronously, so a crash's last line is not
 * lost). `destination` replaces stdout (tests capture lines with it).
 */
export function createLogger(
  service: string,
  level: string = process.env.LOG_LEVEL ?? 'info',
  destination: DestinationStream | null = null,
): Logger {
  const out = destination ?? (process.stdout.isTTY ? prettyStream({ sync: true, ignore: 'pid,hostname' }) : undefined);
  const root = out ? pino({ level, base: { pid: process.pid } }, out) : pino({ level, base: { pid: process.pid } });
  const log = root.child({ service });
  // pino writes a child's bindings after its parent's without merging, so `child({ service })` on
  // this logger (npm start names its ledger, worker, ... that way) would print `service` twice: a
  // child that names its own service hangs off the root instead.
  const child = log.child.bind(log);
  log.child = ((bindings, options) =>
    'service' in bindings ? root.child(bindings, options) : child(bindings, options)) as Logger['child'];
  return log;
}

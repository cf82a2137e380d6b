import { pino, type Logger } from 'pino';
import { scrubSecrets } from './secrets.ts';

export type { Logger };

/**
 * Every line is scrubbed of upstream keys and key-shaped tokens before it is written: a backstop for
 * upstream text that reaches a log by a path the worker's scrubbing does not see.
 */
const scrubbedStdout = { write: (line: string) => process.stdout.write(scrubSecrets(line)) };

export function createLogger(service: string, level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name: service, level, base: { service, pid: process.pid } }, scrubbedStdout);
}

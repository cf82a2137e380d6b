// A rejection nobody handles or an exception nobody catches leaves a service in an unknown state:
// log it once with its stack and exit non-zero, so the supervisor (systemd, Kubernetes, npm start's
// parent) restarts a clean process. JetStream redelivers whatever was in flight.
import type { Logger } from '../telemetry/logger.ts';

let installed = false;

export function exitOnUnexpectedError(log: Logger): void {
  if (installed) return;
  installed = true;
  process.on('unhandledRejection', (reason) => {
    log.fatal({ err: reason }, 'unhandled promise rejection; exiting');
    process.exit(1);
  });
  process.on('uncaughtException', (err, origin) => {
    log.fatal({ err, origin }, 'uncaught exception; exiting');
    process.exit(1);
  });
}

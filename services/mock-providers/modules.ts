// Simulators that live in a module of their own. Each serves one provider under the path prefix its
// descriptor names (`simulatorPath`), so adding a wire format here needs no new branch in ./server.ts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MockScript } from './script.ts';
import type { MockContext } from './server.ts';
import { mistralSimulator } from './mistral.ts';

export interface SimulatorRequest {
  ctx: MockContext;
  req: IncomingMessage;
  res: ServerResponse;
  /** The request path below the provider's simulatorPath (`/chat/completions`). */
  path: string;
  body: Record<string, unknown>;
  /** The script for a request whose last user text is `text` (defaults, headers, `mock:` directive). */
  scriptFor(text: string | undefined): MockScript;
  /** True when this request must fail before answering; a mid-stream failure is left to the handler. */
  failsNow(script: MockScript, stream: boolean): boolean;
  /** The script without its error unless the failure is meant to happen mid-stream. */
  withoutMidstream(script: MockScript, stream: boolean): MockScript;
}

export interface SimulatorModule {
  /** The provider whose descriptor's simulatorPath this module is served under. */
  readonly provider: string;
  /** Answers the request; false when the module has no route for this path. */
  handle(r: SimulatorRequest): Promise<boolean> | boolean;
}

export const SIMULATOR_MODULES: readonly SimulatorModule[] = [mistralSimulator];

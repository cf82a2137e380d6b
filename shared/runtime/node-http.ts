// node:http's values, loaded with require(). Why not `import { createServer } from 'node:http'`: an
// ES module import of a built-in reads every export to build its namespace, and node:http's
// WebSocket, CloseEvent and MessageEvent are lazy getters that load Node's own copy of undici. That
// copy is 3 MB of live heap and about 18 MB of RSS in every process (Node 24; docs/benchmarks.md,
// levers row "nodehttp"); the broker already has the npm undici for its upstream calls. Type-only
// imports from 'node:http' are erased and cost nothing; eslint.config.js enforces the rest.
import { createRequire } from 'node:module';

const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');

export const { createServer, request, STATUS_CODES } = http;

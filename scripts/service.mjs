// `npm run ingress|worker|ledger|batch|mock-providers`: one Switchyard service in its own process (the scale-out
// layout, docs/scaling.md), run from its compiled copy in dist/ (scripts/build.mjs).
import { entryPoint } from './build.mjs';

const SERVICES = ['ingress', 'worker', 'ledger', 'batch', 'mock-providers', 'all'];
const service = process.argv[2];
if (!SERVICES.includes(service)) {
  console.error(`usage: node scripts/service.mjs <${SERVICES.join('|')}>`);
  process.exit(2);
}
await import(await entryPoint(service));

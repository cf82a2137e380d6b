// Request ids name the ingress that made them: `req_<the ingress id's 12 hex digits><20 random hex
// digits>`, 32 hex digits like the UUIDs they were before. A stream's events and owner record are on
// `llm.evt.<ingressId>.<requestId>` in LLM_EVENTS, so any ingress finds a stream's subject from its id
// alone when a client resumes or reads it there: one index lookup. A wildcard over every ingress
// (`llm.evt.*.<requestId>`) is a scan of the stream's subjects in nats-server, tens of milliseconds
// with 200,000 streams kept, and a tenant could have asked for one per made-up id.
import { randomUUID } from 'node:crypto';

/** An ingress id (`ing<12 hex>`, server.ts) or not: ids of other shapes (tests) get random request ids. */
const INGRESS_ID = /^ing[0-9a-f]{12}$/;
const REQUEST_ID = /^req_[0-9a-f]{32}$/;

/** Makes the ingress's request ids (Fastify's genReqId, WebSocket requests). */
export function requestIdMaker(ingressId: string): () => string {
  const own = INGRESS_ID.test(ingressId) ? ingressId.slice(3) : null;
  // randomUUID draws from a cached pool of random bytes: cheaper per request than randomBytes(). The
  // last 20 of its 32 hex digits hold its version digit and two fixed variant bits: 74 random bits,
  // for ids unique within one ingress process.
  if (!own) return () => `req_${randomUUID().replaceAll('-', '')}`;
  return () => `req_${own}${randomUUID().replaceAll('-', '').slice(12)}`;
}

/** The ingress a request id names, or null for an id of another shape (an id from before this scheme names a random one). */
export function ingressOfRequestId(requestId: string): string | null {
  return REQUEST_ID.test(requestId) ? `ing${requestId.slice(4, 16)}` : null;
}

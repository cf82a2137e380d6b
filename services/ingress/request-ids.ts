// Request ids name the ingress that made them and the moment they were made:
// `req_<the ingress id's 12 hex digits><11 hex digits of Unix milliseconds><9 hex digits of sequence>`,
// 32 hex digits like the UUIDs they were before.
//
// The ingress part: a stream's events and owner record are on `llm.evt.<ingressId>.<requestId>` in
// LLM_EVENTS, so any ingress finds a stream's subject from its id alone when a client resumes or reads
// it there: one index lookup. A wildcard over every ingress (`llm.evt.*.<requestId>`) is a scan of the
// stream's subjects in nats-server, tens of milliseconds with 200,000 streams kept, and a tenant could
// have asked for one per made-up id.
//
// The time part: the id is the usage ledger's primary key. Random ids put every insert on a random page
// of that index, which stops fitting in the database's buffers as the table grows (the embedded
// default's 4 MB after ~100,000 rows); ids that grow with time append to its right edge. Measured on the
// embedded database: bench/usage-ids.ts, docs/benchmarks.md (levers row "ordered ids").
//
// The sequence part: starts at a random 32-bit value each millisecond and counts up within it, so one
// process never makes the same id twice (ids only ever increase, the clock stepping back included),
// and the ids of another millisecond cannot be guessed from one seen.
import { randomBytes, randomUUID } from 'node:crypto';

/** An ingress id (`ing<12 hex>`, server.ts) or not: ids of other shapes (tests) get random request ids. */
const INGRESS_ID = /^ing[0-9a-f]{12}$/;
const REQUEST_ID = /^req_[0-9a-f]{32}$/;
const SEQUENCE_SPAN = 2 ** 36;

// One clock per process: the HTTP routes and the WebSocket route each have a maker for the same ingress.
let lastMs = 0;
let sequence = 0;
let randomPool = Buffer.alloc(0);
let randomAt = 0;

function randomUint32(): number {
  if (randomAt + 4 > randomPool.length) {
    randomPool = randomBytes(1024);
    randomAt = 0;
  }
  const value = randomPool.readUInt32BE(randomAt);
  randomAt += 4;
  return value;
}

/** 20 hex digits that only ever increase within this process: milliseconds, then a sequence within them. */
export function orderedSuffix(now = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    sequence = randomUint32();
  } else if (++sequence >= SEQUENCE_SPAN) {
    // 2^36 - 2^32 ids within one millisecond: borrow the next one rather than repeat.
    lastMs += 1;
    sequence = randomUint32();
  }
  return lastMs.toString(16).padStart(11, '0') + sequence.toString(16).padStart(9, '0');
}

/** Makes the ingress's request ids (Fastify's genReqId, WebSocket requests). */
export function requestIdMaker(ingressId: string): () => string {
  const own = INGRESS_ID.test(ingressId) ? ingressId.slice(3) : null;
  if (!own) return () => `req_${randomUUID().replaceAll('-', '')}`;
  return () => `req_${own}${orderedSuffix()}`;
}

/** The ingress a request id names, or null for an id of another shape (an id from before this scheme names a random one). */
export function ingressOfRequestId(requestId: string): string | null {
  return REQUEST_ID.test(requestId) ? `ing${requestId.slice(4, 16)}` : null;
}

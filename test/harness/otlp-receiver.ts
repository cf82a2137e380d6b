// A tiny OTLP/HTTP trace receiver for tests: collects POST /v1/traces, decoding http/json directly and
// http/protobuf with the ProtobufReader of @opentelemetry/otlp-transformer (field numbers from
// opentelemetry-proto: trace/v1/trace.proto, common/v1/common.proto, resource/v1/resource.proto).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ProtobufReader } from '@opentelemetry/otlp-transformer/build/src/common/protobuf/protobuf-reader.js';

export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  name: string;
  /** 1 internal, 2 server, 3 client, 4 producer, 5 consumer */
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, unknown>;
}

export interface OtlpReceiver {
  url: string;
  spans: ReceivedSpan[];
  /** Content types of the export requests received. */
  contentTypes: string[];
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const contentTypes: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') return void res.writeHead(404).end();
      const type = req.headers['content-type'] ?? '';
      contentTypes.push(type);
      const body = Buffer.concat(chunks);
      try {
        spans.push(...(type.includes('json') ? decodeJson(JSON.parse(body.toString('utf8'))) : decodeProtobuf(new Uint8Array(body))));
      } catch (err) {
        return void res.writeHead(400).end((err as Error).message);
      }
      // An empty ExportTraceServiceResponse: full success.
      if (type.includes('json')) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    contentTypes,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

// ---- http/json ----

interface JsonAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values?: JsonAnyValue[] };
}
interface JsonKeyValue {
  key: string;
  value: JsonAnyValue;
}

function jsonValue(v: JsonAnyValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(jsonValue);
  return null;
}

function jsonAttributes(kvs: JsonKeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((kvs ?? []).map((kv) => [kv.key, jsonValue(kv.value)]));
}

function decodeJson(body: {
  resourceSpans?: Array<{
    resource?: { attributes?: JsonKeyValue[] };
    scopeSpans?: Array<{
      spans?: Array<{
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        traceState?: string;
        name: string;
        kind: number;
        startTimeUnixNano: string | number;
        endTimeUnixNano: string | number;
        attributes?: JsonKeyValue[];
      }>;
    }>;
  }>;
}): ReceivedSpan[] {
  return (body.resourceSpans ?? []).flatMap((rs) => {
    const service = String(jsonAttributes(rs.resource?.attributes)['service.name'] ?? '');
    return (rs.scopeSpans ?? []).flatMap((ss) =>
      (ss.spans ?? []).map((s) => ({
        service,
        traceId: s.traceId,
        spanId: s.spanId,
        parentSpanId: s.parentSpanId ?? '',
        traceState: s.traceState ?? '',
        name: s.name,
        kind: s.kind,
        startNs: BigInt(s.startTimeUnixNano),
        endNs: BigInt(s.endTimeUnixNano),
        attributes: jsonAttributes(s.attributes),
      })),
    );
  });
}

// ---- http/protobuf ----

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH = 2;

/** Calls `onField` for each field of a message; `fixed64` reads an 8-byte field in place. */
function fields(buf: Uint8Array, onField: (field: number, wire: number, r: ProtobufReader, fixed64: () => DataView) => void): void {
  const r = new ProtobufReader(buf);
  const fixed64 = () => {
    const view = new DataView(buf.buffer, buf.byteOffset + r.pos, 8);
    r.pos += 8;
    return view;
  };
  while (!r.isAtEnd()) {
    const { fieldNumber, wireType } = r.readTag();
    const before = r.pos;
    onField(fieldNumber, wireType, r, fixed64);
    if (r.pos === before) r.skip(wireType); // a field this decoder does not read
  }
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** AnyValue: 1 string, 2 bool, 3 int64, 4 double, 5 ArrayValue { 1 repeated AnyValue }. */
function anyValue(buf: Uint8Array): unknown {
  let value: unknown = null;
  fields(buf, (f, wire, r, fixed64) => {
    if (f === 1 && wire === WIRE_LENGTH) value = r.readString();
    else if (f === 2 && wire === WIRE_VARINT) value = r.readVarint() !== 0;
    else if (f === 3 && wire === WIRE_VARINT) value = r.readVarint();
    else if (f === 4 && wire === WIRE_FIXED64) value = fixed64().getFloat64(0, true);
    else if (f === 5 && wire === WIRE_LENGTH) {
      const items: unknown[] = [];
      fields(r.readBytes(), (g, w, rr) => {
        if (g === 1 && w === WIRE_LENGTH) items.push(anyValue(rr.readBytes()));
      });
      value = items;
    }
  });
  return value;
}

/** KeyValue: 1 key, 2 AnyValue. */
function keyValue(buf: Uint8Array): [string, unknown] {
  let key = '';
  let value: unknown = null;
  fields(buf, (f, wire, r) => {
    if (f === 1 && wire === WIRE_LENGTH) key = r.readString();
    else if (f === 2 && wire === WIRE_LENGTH) value = anyValue(r.readBytes());
  });
  return [key, value];
}

/** Span: 1 trace_id, 2 span_id, 3 trace_state, 4 parent_span_id, 5 name, 6 kind, 7/8 start/end (fixed64), 9 attributes. */
function span(buf: Uint8Array, service: string): ReceivedSpan {
  const s: ReceivedSpan = {
    service,
    traceId: '',
    spanId: '',
    parentSpanId: '',
    traceState: '',
    name: '',
    kind: 0,
    startNs: 0n,
    endNs: 0n,
    attributes: {},
  };
  fields(buf, (f, wire, r, fixed64) => {
    if (wire === WIRE_LENGTH && f === 1) s.traceId = hex(r.readBytes());
    else if (wire === WIRE_LENGTH && f === 2) s.spanId = hex(r.readBytes());
    else if (wire === WIRE_LENGTH && f === 3) s.traceState = r.readString();
    else if (wire === WIRE_LENGTH && f === 4) s.parentSpanId = hex(r.readBytes());
    else if (wire === WIRE_LENGTH && f === 5) s.name = r.readString();
    else if (wire === WIRE_VARINT && f === 6) s.kind = r.readVarint();
    else if (wire === WIRE_FIXED64 && f === 7) s.startNs = fixed64().getBigUint64(0, true);
    else if (wire === WIRE_FIXED64 && f === 8) s.endNs = fixed64().getBigUint64(0, true);
    else if (wire === WIRE_LENGTH && f === 9) {
      const [k, v] = keyValue(r.readBytes());
      s.attributes[k] = v;
    }
  });
  return s;
}

/** ExportTraceServiceRequest { 1 ResourceSpans { 1 Resource { 1 attributes }, 2 ScopeSpans { 2 spans } } }. */
function decodeProtobuf(buf: Uint8Array): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  fields(buf, (f, wire, r) => {
    if (f !== 1 || wire !== WIRE_LENGTH) return;
    let service = '';
    const scopeSpans: Uint8Array[] = [];
    fields(r.readBytes(), (g, w, rr) => {
      if (g === 1 && w === WIRE_LENGTH)
        fields(rr.readBytes(), (h, ww, rrr) => {
          if (h !== 1 || ww !== WIRE_LENGTH) return;
          const [k, v] = keyValue(rrr.readBytes());
          if (k === 'service.name') service = String(v);
        });
      else if (g === 2 && w === WIRE_LENGTH) scopeSpans.push(rr.readBytes());
    });
    for (const ss of scopeSpans)
      fields(ss, (g, w, rr) => {
        if (g === 2 && w === WIRE_LENGTH) out.push(span(rr.readBytes(), service));
      });
  });
  return out;
}

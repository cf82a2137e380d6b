// The peer comparison as data and as a markdown table: one row per gateway, then Switchyard divided
// by each peer. A peer that could not be installed or started stays in the table with the reason.

export interface LoadFigures {
  /** Successful responses per second (requests that failed or were not 2xx are not counted). */
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  failed: number;
}

export interface MeasuredGateway {
  gateway: string;
  version?: string;
  available: true;
  nonStreaming: LoadFigures;
  /** Absent when the gateway failed the streaming check; `streamingWhy` says why. */
  streaming?: LoadFigures;
  streamingWhy?: string;
  /** Added latency vs direct at the fixed moderate rate, p50 and p99, ms. */
  addedAtRate: { p50: number; p99: number };
  /** Peak over the gateway's whole process tree while it was under load; absent for the mock itself. */
  peakRssMb?: number;
  peakPssMb?: number;
  processes?: number;
}

export interface UnavailableGateway {
  gateway: string;
  version?: string;
  available: false;
  why: string;
}

export type GatewayRow = MeasuredGateway | UnavailableGateway;

export interface Ratios {
  peer: string;
  nonStreamingRps: number;
  p50: number;
  peakRss: number | null;
  streamingRps: number | null;
}

/** Switchyard / peer for each figure; null where either side has no figure. */
export function ratios(switchyard: MeasuredGateway, peer: MeasuredGateway): Ratios {
  const div = (a: number | undefined, b: number | undefined) => (a && b ? +(a / b).toFixed(2) : null);
  return {
    peer: peer.gateway,
    nonStreamingRps: div(switchyard.nonStreaming.rps, peer.nonStreaming.rps) ?? 0,
    p50: div(switchyard.nonStreaming.p50, peer.nonStreaming.p50) ?? 0,
    peakRss: div(switchyard.peakRssMb, peer.peakRssMb),
    streamingRps: div(switchyard.streaming?.rps, peer.streaming?.rps),
  };
}

const ms = (v: number) => `${v.toFixed(2)} ms`;
const int = (v: number) => Math.round(v).toLocaleString('en-US');
const failed = (f: LoadFigures) => (f.failed ? ` (${f.failed} failed)` : '');

export function peerTable(rows: GatewayRow[], opts: { rate: number; connections: number; switchyard?: string }): string {
  const syName = opts.switchyard ?? 'switchyard';
  const name = (r: GatewayRow) => (r.version ? `${r.gateway} ${r.version}` : r.gateway);
  const lines = [
    `| gateway | non-streaming req/s (${opts.connections} conns) | p50 | p99 | added p50 / p99 at ${opts.rate} req/s | peak RSS (process tree) | streaming streams/s (${opts.connections} conns) | streaming p50 |`,
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    if (!r.available) {
      lines.push(`| ${name(r)} | not available: ${r.why.replaceAll('|', '\\|')} | | | | | | |`);
      continue;
    }
    // Below the fixed rate the open-loop load queues: the figure is then waiting time, not overhead.
    const saturated = r.gateway !== 'direct' && r.nonStreaming.rps < opts.rate ? ' (saturated: max < rate)' : '';
    const added = r.gateway === 'direct' ? '(baseline)' : `${signed(r.addedAtRate.p50)} / ${signed(r.addedAtRate.p99)} ms${saturated}`;
    const rss =
      r.peakRssMb === undefined ? '—' : `${int(r.peakRssMb)} MB${r.processes && r.processes > 1 ? ` (${r.processes} processes)` : ''}`;
    const streaming = r.streaming
      ? `${int(r.streaming.rps)}${failed(r.streaming)} | ${ms(r.streaming.p50)}`
      : `not available: ${(r.streamingWhy ?? 'not measured').replaceAll('|', '\\|')} | `;
    lines.push(
      `| ${name(r)} | ${int(r.nonStreaming.rps)}${failed(r.nonStreaming)} | ${ms(r.nonStreaming.p50)} | ${ms(r.nonStreaming.p99)} | ${added} | ${rss} | ${streaming} |`,
    );
  }
  const sy = rows.find((r): r is MeasuredGateway => r.gateway === syName && r.available);
  const peers = rows.filter((r) => r.gateway !== syName && r.gateway !== 'direct');
  if (sy && peers.length) {
    lines.push(
      '',
      '| Switchyard / peer | non-streaming req/s (higher: Switchyard faster) | p50 (lower: Switchyard faster) | peak RSS (lower: Switchyard smaller) | streaming streams/s (higher: Switchyard faster) |',
      '|---|---|---|---|---|',
    );
    for (const p of peers) {
      if (!p.available) {
        lines.push(`| Switchyard / ${p.gateway} | not available | | | |`);
        continue;
      }
      const r = ratios(sy, p);
      const x = (v: number | null) => (v === null ? '—' : `${v.toFixed(2)}×`);
      lines.push(`| Switchyard / ${p.gateway} | ${x(r.nonStreamingRps)} | ${x(r.p50)} | ${x(r.peakRss)} | ${x(r.streamingRps)} |`);
    }
  }
  return lines.join('\n');
}

/** Added latency with its sign: a gateway can measure below the baseline within the noise. */
function signed(ms: number): string {
  return ms < 0 ? `−${(-ms).toFixed(2)}` : `+${ms.toFixed(2)}`;
}

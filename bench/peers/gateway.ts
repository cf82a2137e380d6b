// A peer gateway measured next to Switchyard: installed on first use outside the project's
// dependencies (.data/peers), started against the same mock upstream, stopped with its whole process
// group so that workers it forked go too.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { freePort, waitFor } from '../../test/harness/ports.ts';

export interface RunningPeer {
  /** Chat completions URL on the peer. */
  url: string;
  /** Headers every request to the peer carries (routing, upstream key). */
  headers: Record<string, string>;
  /** Model name as the peer expects it in the request body. */
  model: string;
  /** Root of the peer's process tree (memory is the sum over the tree). */
  pid: number;
  stop(): Promise<void>;
}

export interface PeerGateway {
  name: string;
  version: string;
  /** How the peer is configured in the benchmark, and why (printed and written to the results). */
  settings: string;
  /** Installs on first use; a peer that cannot be installed says why instead of being dropped. */
  install(): { ok: true; installSeconds?: number } | { ok: false; why: string };
  start(upstreamBaseUrl: string): Promise<RunningPeer>;
}

/** Starts `command` as the leader of a new process group, so stopping it also stops its workers. */
export function spawnGroup(command: string, args: string[], options: SpawnOptions): ChildProcess {
  return spawn(command, args, { ...options, detached: true });
}

/** SIGTERM to the group, SIGKILL after a grace period if anything is left. */
export async function stopGroup(child: ChildProcess, graceMs = 5_000): Promise<void> {
  const pid = child.pid;
  if (!pid || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(-pid, 'SIGCONT'); // a paused group (pauseGroup) would not act on SIGTERM
    process.kill(-pid, 'SIGTERM');
  } catch {
    return; // already gone
  }
  let grace: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise((r) => (grace = setTimeout(r, graceMs)))]);
  clearTimeout(grace); // a pending timer would keep the caller's process alive for the whole grace
  try {
    process.kill(-pid, 'SIGKILL'); // workers that outlived their parent
  } catch {
    // group is empty
  }
}

/**
 * Pauses (SIGSTOP) or resumes (SIGCONT) a peer's whole process group: bench/run.ts keeps every peer
 * started for its interleaved rounds, and a paused peer cannot take CPU from the gateway being measured.
 */
export function pauseGroup(pid: number | undefined, paused: boolean): void {
  if (!pid) return;
  try {
    process.kill(-pid, paused ? 'SIGSTOP' : 'SIGCONT');
  } catch {
    // group is gone: the next measurement reports the peer's failure
  }
}

/**
 * Waits until a started peer answers one chat completion; on failure (it exited, or never answered
 * in `timeoutMs`) stops its process group and throws, with `explain` adding what the peer's own logs say.
 */
export async function untilAnswering(
  peer: RunningPeer,
  child: ChildProcess,
  opts: { what: string; timeoutMs: number; intervalMs?: number; explain?: (err: Error) => string },
): Promise<RunningPeer> {
  const body = JSON.stringify({ model: peer.model, messages: [{ role: 'user', content: 'ping' }] });
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`${opts.what} exited ${child.exitCode}`);
      return (await fetch(peer.url, { method: 'POST', headers: { 'content-type': 'application/json', ...peer.headers }, body })).ok;
    },
    { timeoutMs: opts.timeoutMs, intervalMs: opts.intervalMs, what: opts.what },
  ).catch(async (err: Error) => {
    await peer.stop();
    throw opts.explain ? new Error(opts.explain(err)) : err;
  });
  return peer;
}

/**
 * Builds a stdlib-only Go peer (bench/peers/go-proxy, bench/peers/gomodel-like) with the machine's Go
 * into `bin`, unless `bin` is newer than every file in `src`.
 */
export function installGoPeer(src: string, bin: string): ReturnType<PeerGateway['install']> {
  const newestSource = Math.max(...readdirSync(src).map((f) => statSync(`${src}/${f}`).mtimeMs));
  if (existsSync(bin) && statSync(bin).mtimeMs > newestSource) return { ok: true };
  const t0 = performance.now();
  mkdirSync(dirname(bin), { recursive: true });
  const r = spawnSync('go', ['build', '-o', bin, '.'], { cwd: src, stdio: 'inherit', env: { ...process.env, GOFLAGS: '-mod=mod' } });
  if (r.error) return { ok: false, why: `go build failed: ${r.error.message} (is Go installed?)` };
  if (r.status !== 0) return { ok: false, why: `go build exited ${r.status}` };
  return { ok: true, installSeconds: Math.round((performance.now() - t0) / 1000) };
}

/** The machine's Go, as the Go peers' version column shows it. */
export function goVersion(): string {
  const r = spawnSync('go', ['env', 'GOVERSION'], { encoding: 'utf8' });
  return r.status === 0 ? `${r.stdout.trim()} net/http` : 'go (not installed)';
}

/**
 * Starts a Go peer built by installGoPeer: both take -addr, -upstream, -key and -upstream-key (and
 * `extraArgs`); its output is discarded.
 */
export async function startGoPeer(what: string, bin: string, upstreamBaseUrl: string, extraArgs: string[] = []): Promise<RunningPeer> {
  const port = await freePort();
  const key = `sk-${what}`;
  const args = ['-addr', `127.0.0.1:${port}`, '-upstream', upstreamBaseUrl, '-key', key, '-upstream-key', 'sk-upstream', ...extraArgs];
  const child = spawnGroup(bin, args, { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}/v1/chat/completions`;
  const peer: RunningPeer = {
    url,
    headers: { authorization: `Bearer ${key}` },
    model: 'openai/gpt-4o-mini',
    pid: child.pid!,
    stop: () => stopGroup(child),
  };
  return untilAnswering(peer, child, { what, timeoutMs: 15_000 });
}

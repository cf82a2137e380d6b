// Fetching tenant-supplied image URLs for providers that only take inline bytes (Gemini, Ollama).
// A tenant URL must not become a way into our network: every target address is checked, the name is
// resolved once inside the connection (the checked address is the one connected to, so DNS rebinding
// gains nothing), redirects are followed by hand and each hop is checked again, and every failure
// reads the same so error texts cannot map ports or hosts. Caps per upstream request bound the memory
// one request can take (10 URLs x 19 MB used to take the process from 528 MB to 1.95 GB).
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import type { Agent } from 'undici';
import { loadUndici } from '../../runtime/undici.ts';
import type { ImagesFileConfig } from '../../config/file.ts';
import { AdapterError } from '../types.ts';
import { errors } from '../../protocol/errors.ts';
import { isDeniedAddress } from './address-policy.ts';

export interface ImagePolicy {
  /** Hosts (exact, or `*.example.com` for subdomains) that may resolve to private addresses: internal image hosts. */
  allowHosts: string[];
  /** Skip the address checks for every host (a development setup whose images live on localhost). */
  allowPrivate: boolean;
  /** Remote image URLs fetched for one upstream request. */
  maxImages: number;
  /** Bytes of all remote images of one upstream request together (Gemini caps a whole request at 20 MB). */
  maxTotalBytes: number;
  maxImageBytes: number;
  /** Deadline for one image, redirects included. */
  timeoutMs: number;
}

export const DEFAULT_IMAGE_POLICY: ImagePolicy = {
  allowHosts: [],
  allowPrivate: false,
  maxImages: 8,
  maxTotalBytes: 20 * 1024 * 1024,
  maxImageBytes: 20 * 1024 * 1024,
  timeoutMs: 10_000,
};

export const MAX_IMAGE_REDIRECTS = 3;

/** The `images:` section of the config file as a policy (unset fields keep their defaults). */
export function imagePolicyFromConfig(images: ImagesFileConfig | undefined): Partial<ImagePolicy> {
  if (!images) return {};
  const policy: Partial<ImagePolicy> = { allowHosts: images.allow_hosts, allowPrivate: images.allow_private };
  if (images.max_remote_images !== undefined) policy.maxImages = images.max_remote_images;
  if (images.max_total_bytes !== undefined) policy.maxTotalBytes = images.max_total_bytes;
  if (images.max_image_bytes !== undefined) policy.maxImageBytes = images.max_image_bytes;
  if (images.timeout_ms !== undefined) policy.timeoutMs = images.timeout_ms;
  return policy;
}

export interface InlineImage {
  mimeType: string;
  /** base64, no `data:` prefix */
  data: string;
}

/** Name resolution, replaceable in tests (a resolver that answers differently each time = DNS rebinding). */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => dnsLookup(hostname, { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))));

/** A denied target; never shown to the client as is (its text names the address). */
class DeniedTarget extends Error {}

export const IMAGE_NOT_ALLOWED = 'image URL not allowed';
export const IMAGE_NOT_FETCHED = 'image could not be fetched';

function imageError(message: string, param: string, code: string): AdapterError {
  return AdapterError.from(errors.invalidImage(message, param, code));
}

function isDenied(err: unknown): boolean {
  for (let e = err as { cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++)
    if (e instanceof DeniedTarget) return true;
  return false;
}

/** One per worker process: the connection pool whose every connection went to a checked address. */
export class ImageFetcher {
  readonly policy: ImagePolicy;
  private readonly resolve: Resolver;
  /** Made on the first fetch: most workers never fetch an image, and undici is loaded only then. */
  private agent: Promise<Agent> | null = null;

  constructor(policy: Partial<ImagePolicy> = {}, opts: { resolve?: Resolver } = {}) {
    this.policy = { ...DEFAULT_IMAGE_POLICY, ...policy, allowHosts: (policy.allowHosts ?? []).map((h) => h.toLowerCase()) };
    this.resolve = opts.resolve ?? systemResolver;
  }

  private checkingAgent(): Promise<Agent> {
    return (this.agent ??= loadUndici().then(({ Agent }) => this.newAgent(Agent)));
  }

  private newAgent(AgentClass: typeof Agent): Agent {
    return new AgentClass({
      keepAliveTimeout: 10_000,
      connect: {
        timeout: this.policy.timeoutMs,
        // Called by net.connect for host names (never for IP literals, which checkUrl judged): the
        // addresses it returns, all checked, are the only ones the socket may connect to.
        lookup: (hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
          this.resolveChecked(hostname).then(
            (addresses) => (options.all ? callback(null, addresses) : callback(null, addresses[0]!.address, addresses[0]!.family)),
            (err: unknown) => callback(err),
          );
        },
      } as Agent.Options['connect'],
    });
  }

  /** Counts images and bytes for one upstream request; `signal` is the request's (client cancel). */
  session(signal?: AbortSignal): ImageSession {
    return new ImageSession(this, signal);
  }

  /** Drops pooled connections (a graceful close would wait for a tenant server that never answers). */
  async close(): Promise<void> {
    const agent = this.agent;
    this.agent = null;
    if (agent) await (await agent).destroy();
  }

  private trusts(hostname: string): boolean {
    if (this.policy.allowPrivate) return true;
    return this.policy.allowHosts.some((h) => (h.startsWith('*.') ? hostname.endsWith(h.slice(1)) : hostname === h));
  }

  private async resolveChecked(hostname: string): Promise<LookupAddress[]> {
    const addresses = await this.resolve(hostname);
    if (addresses.length === 0) throw new Error('no address');
    // Every address, not only the first: the socket may try any of them (happy eyeballs).
    if (!this.trusts(hostname.toLowerCase()) && addresses.some((a) => isDeniedAddress(a.address)))
      throw new DeniedTarget(`${hostname} resolves to a denied address`);
    return addresses;
  }

  /** The URL when it may be fetched at all (scheme, IP literal); host names are checked at connect. */
  checkUrl(raw: string): URL {
    let url: URL;
    try {
      url = new URL(raw); // the WHATWG parser turns 2130706433, 0x7f000001, 0177.0.0.1, 127.1 into 127.0.0.1
    } catch {
      throw new DeniedTarget('not a URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DeniedTarget(`scheme ${url.protocol}`);
    if (url.username || url.password) throw new DeniedTarget('credentials in URL');
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    if (isIP(host) && !this.trusts(host) && isDeniedAddress(host)) throw new DeniedTarget(`address ${host}`);
    return url;
  }

  /** One GET without following redirects, through the checking agent. */
  async get(url: URL, signal: AbortSignal) {
    const [{ request }, dispatcher] = await Promise.all([loadUndici(), this.checkingAgent()]);
    return request(url, {
      method: 'GET',
      dispatcher,
      signal,
      headersTimeout: this.policy.timeoutMs,
      bodyTimeout: this.policy.timeoutMs,
      headers: { accept: 'image/*' },
    });
  }
}

export class ImageSession {
  private images = 0;
  private bytes = 0;
  private readonly fetcher: ImageFetcher;
  private readonly signal: AbortSignal | undefined;

  constructor(fetcher: ImageFetcher, signal?: AbortSignal) {
    this.fetcher = fetcher;
    this.signal = signal;
  }

  /** Downloads one image; `param` names the message content it came from. */
  async fetch(raw: string, param: string): Promise<InlineImage> {
    const policy = this.fetcher.policy;
    if (++this.images > policy.maxImages)
      throw imageError(`too many image URLs: at most ${policy.maxImages} remote images per request`, param, 'too_many_images');
    const deadline = AbortSignal.timeout(policy.timeoutMs);
    const signal = this.signal ? AbortSignal.any([this.signal, deadline]) : deadline;
    try {
      let url = this.fetcher.checkUrl(raw);
      for (let hop = 0; ; hop++) {
        const res = await this.fetcher.get(url, signal);
        if (res.statusCode >= 300 && res.statusCode < 400 && res.headers.location !== undefined) {
          await res.body.dump().catch(() => {});
          if (hop >= MAX_IMAGE_REDIRECTS) throw new Error('too many redirects');
          url = this.fetcher.checkUrl(new URL(String(res.headers.location), url).href);
          continue;
        }
        if (res.statusCode !== 200) {
          await res.body.dump().catch(() => {});
          throw new Error(`HTTP ${res.statusCode}`);
        }
        return await this.readBody(res, url, param);
      }
    } catch (err) {
      if (err instanceof AdapterError) throw err;
      if (this.signal?.aborted) throw err; // cancelled by the client: nobody is waiting for a message
      // One text per outcome: refused, 404, timeout and DNS failure must read alike (no port scanning).
      throw isDenied(err)
        ? imageError(IMAGE_NOT_ALLOWED, param, 'image_url_not_allowed')
        : imageError(IMAGE_NOT_FETCHED, param, 'image_fetch_failed');
    }
  }

  private async readBody(res: Awaited<ReturnType<ImageFetcher['get']>>, url: URL, param: string): Promise<InlineImage> {
    const policy = this.fetcher.policy;
    const mimeType = String(res.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim()
      .toLowerCase();
    if (mimeType && !mimeType.startsWith('image/') && mimeType !== 'application/octet-stream') {
      await res.body.dump().catch(() => {});
      throw new Error(`content-type ${mimeType}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    // A running count, not content-length: the header may lie or be absent.
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.byteLength;
      if (this.bytes + size > policy.maxTotalBytes) {
        res.body.destroy();
        throw imageError(`images too large: at most ${policy.maxTotalBytes} bytes of remote images per request`, param, 'images_too_large');
      }
      if (size > policy.maxImageBytes) {
        res.body.destroy();
        throw imageError(`image too large: at most ${policy.maxImageBytes} bytes per image`, param, 'image_too_large');
      }
      chunks.push(chunk);
    }
    this.bytes += size;
    return {
      mimeType: mimeType && mimeType !== 'application/octet-stream' ? mimeType : guessMime(url.pathname),
      data: Buffer.concat(chunks).toString('base64'),
    };
  }
}

function guessMime(path: string): string {
  const ext = path.split('.').pop()?.toLowerCase();
  if (ext === 'png') return 'image/png';
  if (ext === 'gif') return 'image/gif';
  if (ext === 'webp') return 'image/webp';
  return 'image/jpeg';
}

let defaultFetcher: ImageFetcher | null = null;

/** For callers without a worker's fetcher (adapter tests, tools): default policy, no cancellation. */
export function defaultImageSession(): ImageSession {
  defaultFetcher ??= new ImageFetcher();
  return defaultFetcher.session();
}

import { createHash, X509Certificate } from 'node:crypto';
import https from 'node:https';
import { isIP } from 'node:net';
import tls, { type PeerCertificate } from 'node:tls';
import type { ServerTrust } from './trust.js';

export type TransportFailure = 'pin_mismatch' | 'tls' | 'network' | 'timeout' | 'bad_response';

/** A request that got no usable HTTP answer. Messages name the server, never credentials. */
export class TransportError extends Error {
  constructor(
    readonly kind: TransportFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TransportError';
  }
}

export interface AgentReply {
  status: number;
  /** Parsed JSON, or undefined when the body is empty or not JSON. */
  body: unknown;
  /** The server's `Date` header, for clock-skew correction. */
  dateMs: number | null;
  /** From `Retry-After` (seconds form), when present. */
  retryAfterMs: number | null;
}

/** What the sender needs from a transport; simulated agents share one. */
export interface AgentPoster {
  post(path: string, body: unknown, bearer?: string): Promise<AgentReply>;
}

export interface TransportOptions {
  timeoutMs?: number;
  /** A hostile or broken server cannot make the agent buffer more than this. */
  maxResponseBytes?: number;
  maxSockets?: number;
}

const MIN_TLS = 'TLSv1.2';

/** `sha256:` + hex of SHA-256 over the certificate's DER: the same spelling the server prints. */
export function certificateFingerprint(der: Uint8Array): string {
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

/** Checks that a server URL is HTTPS and carries nothing that could leak (credentials, query). */
export function parseServerUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TransportError('bad_response', 'the server URL is not a valid URL');
  }
  if (url.protocol !== 'https:') throw new TransportError('bad_response', 'the server URL must start with https:// (the agent never talks plain HTTP)');
  if (url.username || url.password) throw new TransportError('bad_response', 'the server URL must not contain credentials');
  if (url.search || url.hash) throw new TransportError('bad_response', 'the server URL must not contain a query or fragment');
  return url;
}

/**
 * HTTPS client of one agent (or one simulator) towards one server. Verification
 * is never switched off: the system store, a configured CA, or a pinned
 * certificate.
 *
 * Pinning: Node only calls `checkServerIdentity` once the chain has verified,
 * which a self-signed server certificate never does against the system store.
 * So the transport first fetches the server's certificate over a connection
 * that carries no data at all, checks its fingerprint against the pin, and then
 * makes every real request with that certificate as the trust anchor (chain
 * verification on) and a `checkServerIdentity` that demands the pinned
 * fingerprint again (the host name is irrelevant under a pin).
 */
export class AgentTransport implements AgentPoster {
  readonly url: URL;
  #agent: https.Agent | null = null;
  #pending: Promise<https.Agent> | null = null;
  readonly #timeoutMs: number;
  readonly #maxResponseBytes: number;
  readonly #maxSockets: number;

  constructor(
    serverUrl: string,
    readonly trust: ServerTrust,
    opts: TransportOptions = {},
  ) {
    this.url = parseServerUrl(serverUrl);
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    this.#maxResponseBytes = opts.maxResponseBytes ?? 4 * 1024 * 1024;
    this.#maxSockets = opts.maxSockets ?? 8;
  }

  get host(): string {
    return this.url.hostname.replace(/^\[(.*)\]$/, '$1');
  }

  get port(): number {
    return this.url.port ? Number(this.url.port) : 443;
  }

  async post(path: string, body: unknown, bearer?: string): Promise<AgentReply> {
    const agent = await this.#connectionPool();
    const payload = Buffer.from(JSON.stringify(body), 'utf8');
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'content-length': String(payload.length),
      accept: 'application/json',
    };
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    try {
      return await this.#request(agent, path, headers, payload);
    } catch (err) {
      if (!(err instanceof TransportError) || err.kind === 'timeout' || err.kind === 'bad_response') throw err;
      // Fresh connections next time. Under a pin, a TLS failure usually means the
      // server changed its certificate: probe once more so the error says so.
      this.#reset();
      if (err.kind === 'tls' && this.trust.kind === 'pin') await this.#fetchPinnedCertificate(this.trust.fingerprint);
      throw err;
    }
  }

  close(): void {
    this.#reset();
  }

  /**
   * A fresh HTTPS agent with this transport's trust, for a long-lived
   * connection (the agent channel); under a pin the certificate is probed
   * again, so every reconnect re-checks it.
   */
  tlsAgent(): Promise<https.Agent> {
    return this.#buildAgent(false);
  }

  #reset(): void {
    this.#agent?.destroy();
    this.#agent = null;
    this.#pending = null;
  }

  #connectionPool(): Promise<https.Agent> {
    if (this.#agent) return Promise.resolve(this.#agent);
    this.#pending ??= this.#buildAgent().then(
      (agent) => {
        this.#agent = agent;
        return agent;
      },
      (err: unknown) => {
        this.#pending = null;
        throw err;
      },
    );
    return this.#pending;
  }

  async #buildAgent(keepAlive = true): Promise<https.Agent> {
    const base: https.AgentOptions = { keepAlive, maxSockets: this.#maxSockets, minVersion: MIN_TLS };
    const trust = this.trust;
    if (trust.kind === 'system') return new https.Agent(base);
    if (trust.kind === 'ca') return new https.Agent({ ...base, ca: trust.caPem });
    const pem = await this.#fetchPinnedCertificate(trust.fingerprint);
    return new https.Agent({
      ...base,
      // The pinned certificate is the anchor (a self-signed one verifies against
      // itself); the public roots let a pinned, publicly issued certificate verify too.
      ca: [...tls.rootCertificates, pem],
      checkServerIdentity: (_host: string, cert: PeerCertificate) => {
        const seen = certificateFingerprint(cert.raw);
        return seen === trust.fingerprint ? undefined : pinMismatch(seen, trust.fingerprint);
      },
    });
  }

  /** A handshake that sends no application data: it only reads the certificate and compares it with the pin. */
  #fetchPinnedCertificate(pin: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host: this.host,
        port: this.port,
        ...(isIP(this.host) === 0 ? { servername: this.host } : {}),
        minVersion: MIN_TLS,
        // Chain verification is replaced by the fingerprint comparison below, before any byte is sent.
        rejectUnauthorized: false,
      });
      socket.setTimeout(this.#timeoutMs, () => socket.destroy(new TransportError('timeout', `no TLS handshake from ${this.url.host} within ${this.#timeoutMs} ms`)));
      socket.once('secureConnect', () => {
        const cert = socket.getPeerCertificate(false);
        socket.destroy();
        if (!cert?.raw) return reject(new TransportError('tls', `the server at ${this.url.host} presented no certificate`));
        const seen = certificateFingerprint(cert.raw);
        if (seen !== pin) return reject(pinMismatch(seen, pin));
        resolve(new X509Certificate(cert.raw).toString());
      });
      socket.once('error', (err) => reject(classify(err, this.url.host)));
    });
  }

  #request(agent: https.Agent, path: string, headers: Record<string, string>, payload: Buffer): Promise<AgentReply> {
    const base = this.url.pathname.replace(/\/+$/, '');
    return new Promise((resolve, reject) => {
      const req = https.request(
        { host: this.host, port: this.port, method: 'POST', path: `${base}${path}`, headers, agent, timeout: this.#timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > this.#maxResponseBytes) {
              req.destroy(new TransportError('bad_response', `the answer from ${this.url.host} exceeds ${this.#maxResponseBytes} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          res.on('error', (err) => reject(classify(err, this.url.host)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown;
            try {
              body = text.length > 0 ? JSON.parse(text) : undefined;
            } catch {
              body = undefined;
            }
            resolve({ status: res.statusCode ?? 0, body, dateMs: parseDate(res.headers.date), retryAfterMs: parseRetryAfter(res.headers['retry-after']) });
          });
        },
      );
      req.on('timeout', () => req.destroy(new TransportError('timeout', `no answer from ${this.url.host} within ${this.#timeoutMs} ms`)));
      req.on('error', (err) => reject(classify(err, this.url.host)));
      req.end(payload);
    });
  }
}

function pinMismatch(seen: string, pin: string): TransportError {
  return new TransportError('pin_mismatch', `the server certificate ${seen} does not match the pinned ${pin}; refusing to connect`);
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|ERR_SSL|EPROTO|HOSTNAME|ALTNAME/;

function classify(err: unknown, host: string): TransportError {
  if (err instanceof TransportError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (TLS_CODES.test(code)) return new TransportError('tls', `TLS verification of ${host} failed (${code}); the agent never connects unverified`, { cause: err });
  return new TransportError('network', `cannot reach ${host} (${code || (err as Error).message})`, { cause: err });
}

function parseDate(value: string | undefined): number | null {
  if (!value) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

function parseRetryAfter(value: string | undefined): number | null {
  if (!value || !/^\d{1,6}$/.test(value.trim())) return null;
  return Number(value.trim()) * 1000;
}

import https from 'node:https';
import { AgentTransport, parseServerUrl } from '../agent/transport.js';
import type { ServerTrust } from '../agent/trust.js';

const TIMEOUT_MS = 30_000;
/** A hostile or broken server cannot make the CLI buffer more than this. */
const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

/** The server answered with its uniform error body (or something that is not one). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** No usable HTTP answer: unreachable, TLS refused, pin mismatch, timeout. Messages never carry the token. */
export class ConnectError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConnectError';
  }
}

/**
 * JSON over HTTPS with a bearer access token, as any API client. Verification
 * is never switched off. Under a pin the server certificate is first read over
 * a handshake that sends nothing and compared with the pin; requests then use
 * it as the only extra anchor and demand the same fingerprint again, so the
 * token is only ever sent to the pinned certificate (the agent's own
 * transport builds that connection: AgentTransport.tlsAgent).
 */
export class ApiClient {
  readonly url: URL;
  #agent: Promise<https.Agent> | null = null;

  constructor(
    serverUrl: string,
    readonly trust: ServerTrust,
    readonly token: string,
  ) {
    this.url = parseServerUrl(serverUrl);
  }

  get(path: string, query: Record<string, string | undefined> = {}): Promise<unknown> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, v);
    const search = params.size > 0 ? `?${params.toString()}` : '';
    return this.#request('GET', `${path}${search}`);
  }

  post(path: string, body: unknown): Promise<unknown> {
    return this.#request('POST', path, Buffer.from(JSON.stringify(body), 'utf8'));
  }

  close(): void {
    void this.#agent?.then((a) => a.destroy(), () => undefined);
    this.#agent = null;
  }

  get #host(): string {
    return this.url.hostname.replace(/^\[(.*)\]$/, '$1');
  }

  get #port(): number {
    return this.url.port ? Number(this.url.port) : 443;
  }

  #connectionPool(): Promise<https.Agent> {
    // The agent's own trust code: a configured CA, or the pin probed over a handshake that sends nothing and demanded again.
    this.#agent ??= new AgentTransport(this.url.toString(), this.trust).tlsAgent();
    return this.#agent;
  }

  async #request(method: 'GET' | 'POST', path: string, payload?: Buffer): Promise<unknown> {
    const agent = await this.#connectionPool();
    const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${this.token}` };
    if (payload) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(payload.length) });
    const base = this.url.pathname.replace(/\/+$/, '');
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = https.request({ host: this.#host, port: this.#port, method, path: `${base}${path}`, headers, agent, timeout: TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) return req.destroy(new ConnectError(`the answer from ${this.url.host} exceeds ${MAX_RESPONSE_BYTES} bytes`));
          chunks.push(chunk);
        });
        res.on('error', (err) => reject(connectError(err, this.url.host)));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('timeout', () => req.destroy(new ConnectError(`no answer from ${this.url.host} within ${TIMEOUT_MS} ms`)));
      req.on('error', (err) => reject(connectError(err, this.url.host)));
      req.end(payload);
    });
    const body = parseJson(text);
    if (status >= 200 && status < 300) return body;
    throw errorOf(status, body);
  }
}

function parseJson(text: string): unknown {
  try {
    return text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/** The uniform `{"error": {"code", "message"}}`; anything else is named by its status only. */
function errorOf(status: number, body: unknown): ApiError {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (typeof error?.code === 'string' && typeof error.message === 'string') return new ApiError(status, error.code, error.message);
  return new ApiError(status, `http_${status}`, 'the server answered without an error body');
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|ERR_SSL|EPROTO|HOSTNAME|ALTNAME/;

function connectError(err: unknown, host: string): ConnectError {
  if (err instanceof ConnectError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (TLS_CODES.test(code)) return new ConnectError(`TLS verification of ${host} failed (${code}); pass --ca FILE or --pin sha256:… to trust the server`, { cause: err });
  return new ConnectError(`cannot reach ${host} (${code || (err as Error).message})`, { cause: err });
}

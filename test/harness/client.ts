import https from 'node:https';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  setCookies: string[];
}

export interface RequestOptions {
  body?: unknown;
  /** Sent as-is, without JSON encoding (malformed-body tests). */
  raw?: string | Buffer;
  headers?: Record<string, string>;
  bearer?: string;
  /** Send the jar's cookies (default true) and store the ones set. */
  cookies?: boolean;
}

/**
 * A small HTTPS client for end-to-end tests: trusts only the server's own
 * certificate and keeps a cookie jar like a browser would.
 */
export class HttpsClient {
  readonly jar = new Map<string, string>();
  private readonly agent: https.Agent;

  constructor(
    readonly port: number,
    caPem: string,
  ) {
    this.agent = new https.Agent({ ca: caPem, keepAlive: true, servername: 'localhost' });
  }

  get csrf(): string | undefined {
    return this.jar.get('flotilla_csrf');
  }

  request(method: string, path: string, opts: RequestOptions = {}): Promise<Reply> {
    const headers: Record<string, string> = { ...opts.headers };
    let payload: string | Buffer | undefined = opts.raw;
    if (opts.body !== undefined) {
      payload = JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    if (opts.bearer) headers.authorization = `Bearer ${opts.bearer}`;
    const useCookies = opts.cookies ?? true;
    if (useCookies && this.jar.size > 0) headers.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload));
    return new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: this.port, method, path, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const setCookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
          if (useCookies) this.absorb(setCookies);
          let json: unknown;
          try {
            json = text.length > 0 ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, setCookies });
        });
      });
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  get(path: string, opts?: RequestOptions) {
    return this.request('GET', path, opts);
  }
  post(path: string, body?: unknown, opts?: RequestOptions) {
    return this.request('POST', path, { ...opts, body });
  }
  /** A state-changing request the way the dashboard makes it: cookies plus the CSRF header. */
  send(method: string, path: string, body?: unknown) {
    return this.request(method, path, { body, headers: this.csrf ? { 'x-csrf-token': this.csrf } : {} });
  }

  close(): void {
    this.agent.destroy();
  }

  private absorb(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=thu, 01 jan 1970/i.test(a));
      if (expired || value === '') this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }
}

/**
 * Oversized bodies are answered, not dropped: every route answers 413 with the
 * uniform error body, whether the client declares the length or streams it
 * chunked, and the client (which writes the whole body before reading) gets
 * to read that answer instead of a reset connection.
 */
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRAIN_LIMIT_BYTES } from '../../src/server/body-limit.js';
import type { HttpsClient } from '../harness/client.js';
import { adminClient, startTestServer, type TestServer } from '../harness/server.js';

const TWO_MB = 2 * 1024 * 1024;
const CHUNK = 64 * 1024;

interface Answer {
  status: number;
  headers: Record<string, string>;
  json: { error?: { code?: string; message?: string } } | undefined;
}

function parseResponse(raw: Buffer): Answer {
  const text = raw.toString('utf8');
  const split = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim();
  let json: Answer['json'];
  try {
    json = JSON.parse(text.slice(split + 4));
  } catch {
    json = undefined;
  }
  return { status: Number(statusLine.split(' ')[1]), headers, json };
}

/**
 * A client that writes its whole body before it reads anything, as many
 * agents' HTTP libraries do: a server that answers and closes mid-upload makes
 * it fail (the connection ends while it still writes) instead of giving a status.
 */
function upload(t: TestServer, method: string, path: string, opts: { chunked: boolean; headers?: Record<string, string>; size?: number }): Promise<Answer> {
  const size = opts.size ?? TWO_MB;
  const headers: Record<string, string> = { host: 'localhost', 'content-type': 'application/json', connection: 'close', ...opts.headers };
  if (opts.chunked) headers['transfer-encoding'] = 'chunked';
  else headers['content-length'] = String(size);
  const head = `${method} ${path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: t.server.port, ca: t.server.certificate.certPem, servername: 'localhost' });
    const received: Buffer[] = [];
    let written = 0;
    socket.on('data', (c: Buffer) => received.push(c));
    socket.on('error', (err) => reject(new Error(`${path}: ${(err as NodeJS.ErrnoException).code ?? err.message} after ${written} body bytes`)));
    socket.on('close', () => {
      if (written < size) reject(new Error(`${path}: the server closed the connection after ${written} of ${size} body bytes`));
      else resolve(parseResponse(Buffer.concat(received)));
    });
    socket.on('secureConnect', async () => {
      socket.write(head);
      const chunk = Buffer.alloc(CHUNK, 'a');
      while (written < size && !socket.destroyed) {
        const part = chunk.subarray(0, Math.min(CHUNK, size - written));
        const framed = opts.chunked ? Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]) : part;
        const flushed = socket.write(framed);
        written += part.length;
        if (!flushed) await new Promise((resume) => socket.once('drain', resume));
      }
      if (opts.chunked) socket.write('0\r\n\r\n');
    });
  });
}

describe('oversized request bodies', () => {
  let t: TestServer;
  let admin: HttpsClient;

  beforeAll(async () => {
    t = await startTestServer();
    admin = await adminClient(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  const authHeaders = () => ({ cookie: [...admin.jar].map(([k, v]) => `${k}=${v}`).join('; '), 'x-csrf-token': admin.csrf ?? '' });

  const agentKey = { authorization: `Bearer fla_01890000-0000-7000-8000-000000000000_${'A'.repeat(43)}` };
  const TOO_LARGE = { error: { code: 'payload_too_large', message: 'the request body is too large' } };

  const expectTooLarge = (res: Answer, label: string) => {
    expect(res.status, label).toBe(413);
    expect(res.json, label).toEqual(TOO_LARGE);
    expect(res.headers['strict-transport-security'], label).toMatch(/^max-age=31536000; includeSubDomains/);
    expect(res.headers['cache-control'], label).toBe('no-store');
  };

  it('answers 2 MB with a Content-Length with a readable 413 on every route, before authentication', async () => {
    const routes: Array<[string, string, string, Record<string, string>]> = [
      ['agent enroll', 'POST', '/api/agent/enroll', {}],
      ['agent report without a key', 'POST', '/api/agent/report', {}],
      ['agent report with a key', 'POST', '/api/agent/report', agentKey],
      ['login', 'POST', '/api/auth/login', {}],
      ['an authenticated route', 'POST', '/api/me/password', authHeaders()],
      ['an authenticated route without a session', 'POST', '/api/me/password', {}],
      ['an unknown path', 'POST', '/api/nope', {}],
      ['a page', 'GET', '/', {}],
    ];
    for (const [label, method, path, headers] of routes) expectTooLarge(await upload(t, method, path, { chunked: false, headers }), label);
  });

  it('answers 2 MB sent chunked with a readable 413 wherever the body is read', async () => {
    const routes: Array<[string, string, Record<string, string>]> = [
      ['agent enroll', '/api/agent/enroll', {}],
      ['agent report with a key', '/api/agent/report', agentKey],
      ['login', '/api/auth/login', {}],
      ['an authenticated route', '/api/me/password', authHeaders()],
      ['an unknown path', '/api/nope', {}],
    ];
    for (const [label, path, headers] of routes) expectTooLarge(await upload(t, 'POST', path, { chunked: true, headers }), label);
  });

  it('answers 413 too when credentials were refused before a chunked body was read', async () => {
    // Credentials are checked before the body is read, so these never buffer it: they drain it, measure it, answer 413.
    for (const path of ['/api/agent/report', '/api/me/password']) expectTooLarge(await upload(t, 'POST', path, { chunked: true }), path);
  });

  it('keeps the refusal of a small chunked body that arrives without credentials', async () => {
    for (const path of ['/api/agent/report', '/api/me/password']) {
      const res = await upload(t, 'POST', path, { chunked: true, size: 1024 });
      expect(res.status, path).toBe(401);
      expect(res.json?.error?.code, path).toBe('unauthorized');
    }
  });

  it('keeps the agent report limit of 256 KiB', async () => {
    const res = await upload(t, 'POST', '/api/agent/report', { chunked: false, size: 300 * 1024, headers: { authorization: 'Bearer fla_x' } });
    expect(res.status).toBe(413);
    expect(res.json?.error?.code).toBe('payload_too_large');
  });

  it('stops reading a body far past the drain bound and closes the connection', async () => {
    const size = DRAIN_LIMIT_BYTES * 3;
    await expect(upload(t, 'POST', '/api/agent/enroll', { chunked: false, size })).rejects.toThrow(/closed the connection|ECONNRESET|EPIPE/);
  });

  it('still serves ordinary requests on the same server afterwards', async () => {
    expect((await admin.get('/api/me')).status).toBe(200);
  });
});

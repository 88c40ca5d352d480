import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createRedirectServer } from '../../src/server/redirect.js';
import { startTestServer } from '../harness/server.js';

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends raw bytes, so tests control the Host header exactly (or leave it out). */
function rawRequest(port: number, request: Buffer | string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [head = '', body = ''] = text.split('\r\n\r\n', 2);
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
    });
    socket.write(request);
  });
}

function get(port: number, path: string, host: string | undefined, method = 'GET'): Promise<RawResponse> {
  const hostLine = host === undefined ? '' : `Host: ${host}\r\n`;
  return rawRequest(port, `${method} ${path} HTTP/1.1\r\n${hostLine}Connection: close\r\n\r\n`);
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** What a generated certificate covers on a host named flotilla-test (see ensureSelfSigned). */
const CERT_NAMES = ['localhost', '127.0.0.1', '::1', 'flotilla-test'];

/** The request shapes that try to choose the redirect target. */
const HOSTILE_REQUESTS: Array<[string, string]> = [
  ['a foreign Host', 'GET /p?q=1 HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n'],
  ['a foreign Host with a port', 'GET /p?q=1 HTTP/1.1\r\nHost: evil.example:443\r\nConnection: close\r\n\r\n'],
  ['an absolute-form target', 'GET http://evil.example/p?q=1 HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n'],
  ['an https absolute-form target with a port', 'GET https://evil.example:8443/p?q=1 HTTP/1.1\r\nHost: evil.example:8443\r\nConnection: close\r\n\r\n'],
  ['X-Forwarded-Host', 'GET /p?q=1 HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n'],
  ['Forwarded', 'GET /p?q=1 HTTP/1.1\r\nHost: evil.example\r\nForwarded: host=evil.example;proto=https\r\nConnection: close\r\n\r\n'],
  ['no Host at all', 'GET /p?q=1 HTTP/1.0\r\n\r\n'],
];

async function withServer<T>(server: http.Server, run: (port: number) => Promise<T>): Promise<T> {
  const port = await listen(server);
  try {
    return await run(port);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('http -> https redirect listener', () => {
  let server: http.Server;
  let port: number;

  beforeAll(async () => {
    server = createRedirectServer({ httpsPort: 8768, tlsNames: ['fleet.example.test'], certificateNames: CERT_NAMES });
    port = await listen(server);
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('answers 308 to the same host on the HTTPS port, path and query preserved, with no body', async () => {
    const res = await get(port, '/api/fleet/machines?limit=5&tag=a%20b#frag', 'fleet.example.test:8080');
    expect(res.status).toBe(308);
    expect(res.headers.location).toBe('https://fleet.example.test:8768/api/fleet/machines?limit=5&tag=a%20b#frag');
    expect(res.headers['content-length']).toBe('0');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toBe('');
  });

  it('redirects every method the same way', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']) {
      const res = await get(port, '/x?y=1', 'localhost', method);
      expect(res.status, method).toBe(308);
      expect(res.headers.location, method).toBe('https://localhost:8768/x?y=1');
      expect(res.body, method).toBe('');
    }
  });

  it('ignores a request body and still answers with an empty 308', async () => {
    const res = await rawRequest(port, 'POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world');
    expect(res.status).toBe(308);
    expect(res.headers.location).toBe('https://localhost:8768/login');
    expect(res.body).toBe('');
  });

  it('keeps a Host that is one of our names, in our spelling, on the HTTPS port', async () => {
    expect((await get(port, '/', '127.0.0.1:80')).headers.location).toBe('https://127.0.0.1:8768/');
    expect((await get(port, '/', '[::1]:80')).headers.location).toBe('https://[::1]:8768/');
    expect((await get(port, '/', '[0:0:0:0:0:0:0:1]')).headers.location).toBe('https://[::1]:8768/');
    expect((await get(port, '/', 'Fleet.Example.Test.')).headers.location).toBe('https://fleet.example.test:8768/');
    expect((await get(port, '/', 'flotilla-test')).headers.location).toBe('https://flotilla-test:8768/');
    await withServer(createRedirectServer({ httpsPort: 443, certificateNames: CERT_NAMES }), async (standard) => {
      expect((await get(standard, '/a?b', 'localhost')).headers.location).toBe('https://localhost/a?b');
    });
  });

  it.each(HOSTILE_REQUESTS)('replaces %s with the first configured TLS name', async (_label, request) => {
    const res = await rawRequest(port, request);
    expect(res.status).toBe(308);
    expect(res.headers.location).toBe('https://fleet.example.test:8768/p?q=1');
  });

  it.each([
    ['a name we do not have', 'evil.example'],
    ['a subdomain of ours', 'evil.fleet.example.test'],
    ['userinfo', 'evil.example@fleet.example.test'],
    ['a path', 'fleet.example.test/x'],
    ['a space', 'fleet.example.test evil'],
    ['an encoded CRLF', 'fleet.example.test%0d%0aSet-Cookie:%20x=1'],
    ['a backslash', 'evil.example\\fleet.example.test'],
    ['a non-numeric port', 'localhost:https'],
    ['an out-of-range port', 'localhost:999999'],
    ['two ports', 'localhost:80:81'],
    ['an IPv6 zone id', '[::1%25eth0]'],
    ['an unbracketed IPv6 address', '::1'],
    ['an underscore', 'evil_host.example'],
    ['a leading hyphen', '-localhost'],
    ['an empty value', ''],
  ])('never keeps a Host header with %s', async (_label, host) => {
    const res = await get(port, '/p?q=1', host);
    expect(res.status).toBe(308);
    expect(res.headers.location).toBe('https://fleet.example.test:8768/p?q=1');
  });

  it('falls back to the address the client connected to when no TLS name is configured', async () => {
    await withServer(createRedirectServer({ httpsPort: 8768, certificateNames: CERT_NAMES }), async (bare) => {
      for (const [label, request] of HOSTILE_REQUESTS) {
        expect((await rawRequest(bare, request)).headers.location, label).toBe('https://127.0.0.1:8768/p?q=1');
      }
      expect((await get(bare, '/p', 'localhost:80')).headers.location).toBe('https://localhost:8768/p');
      expect((await get(bare, 'http://evil.example/p', 'localhost')).headers.location).toBe('https://localhost:8768/p');
    });
    // Without any names (no certificate facts given), nothing from Host is kept.
    await withServer(createRedirectServer({ httpsPort: 8768 }), async (bare) => {
      expect((await get(bare, '/p', 'localhost')).headers.location).toBe('https://127.0.0.1:8768/p');
    });
  });

  it('with server.publicUrl, always redirects to its origin and port, whatever the request says', async () => {
    const options = { httpsPort: 8768, tlsNames: ['fleet.example.test'], certificateNames: CERT_NAMES };
    await withServer(createRedirectServer({ ...options, publicUrl: 'https://fleet.example.com:9443/ignored/base?x=1' }), async (pub) => {
      for (const [label, request] of [...HOSTILE_REQUESTS, ['one of our names', 'GET /p?q=1 HTTP/1.1\r\nHost: localhost:80\r\nConnection: close\r\n\r\n'] as [string, string]]) {
        const res = await rawRequest(pub, request);
        expect(res.status, label).toBe(308);
        expect(res.headers.location, label).toBe('https://fleet.example.com:9443/p?q=1');
      }
    });
    await withServer(createRedirectServer({ ...options, publicUrl: 'https://Fleet.Example.com:443' }), async (pub) => {
      expect((await get(pub, '/z', 'evil.example')).headers.location).toBe('https://fleet.example.com/z');
    });
  });

  it('refuses a publicUrl that is not a plain https URL at construction', () => {
    for (const publicUrl of ['fleet.example.com', 'http://fleet.example.com', 'https://user:pw@fleet.example.com', 'javascript:alert(1)', 'https://']) {
      expect(() => createRedirectServer({ httpsPort: 8768, publicUrl }), publicUrl).toThrow(/server\.publicUrl/);
    }
  });

  it.each([
    ['a protocol-relative-looking path', '//evil.example/x', 'https://fleet.example.test:8768//evil.example/x'],
    ['a backslash path', '/\\evil.example/x', 'https://fleet.example.test:8768/%5Cevil.example/x'],
    ['backslashes after the slash', '/\\\\evil.example', 'https://fleet.example.test:8768/%5C%5Cevil.example'],
    ['an encoded CRLF', '/a%0d%0aSet-Cookie:%20x=1', 'https://fleet.example.test:8768/a%0d%0aSet-Cookie:%20x=1'],
    ['an absolute-form target with a double slash', 'http://evil.example//evil.example/x', 'https://fleet.example.test:8768//evil.example/x'],
    ['an asterisk', '*', 'https://fleet.example.test:8768/'],
  ])('keeps %s on our host', async (_label, target, location) => {
    const res = await get(port, target, 'fleet.example.test');
    expect(res.status).toBe(308);
    expect(res.headers.location).toBe(location);
    const url = new URL(res.headers.location ?? '');
    expect(url.host).toBe('fleet.example.test:8768');
    expect(res.headers.location).not.toMatch(/[\r\n\\]/);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('never puts raw CR, LF or non-ASCII bytes from the path into Location', async () => {
    for (const bytes of [[0xc3, 0xa9], [0x0d], [0x0a], [0x0d, 0x0a]]) {
      const request = Buffer.concat([
        Buffer.from('GET /caf'),
        Buffer.from(bytes),
        Buffer.from('?q=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'),
      ]);
      const res = await rawRequest(port, request);
      // Node's strict parser refuses such bytes today (400); should it ever pass them, they must arrive encoded.
      if (res.status === 400) continue;
      expect(res.status).toBe(308);
      expect(res.headers.location).toMatch(/^https:\/\/localhost:8768\/caf%[0-9A-F]{2}/);
      expect(res.headers.location).not.toMatch(/[\r\n]/);
    }
  });
});

describe('the redirect listener of a running server', () => {
  const plainGet = (port: number, host: string) => get(port, '/api/me?x=1', host);

  it('redirects to server.publicUrl whatever Host the request names', async () => {
    const t = await startTestServer({ env: { FLOTILLA_SERVER_HTTP_PORT: '0', FLOTILLA_SERVER_PUBLIC_URL: 'https://fleet.example.com:9443' } });
    try {
      for (const host of ['evil.example', 'localhost']) {
        expect((await plainGet(t.server.httpPort ?? 0, host)).headers.location, host).toBe('https://fleet.example.com:9443/api/me?x=1');
      }
    } finally {
      await t.close();
    }
  });

  it('without it, keeps the certificate names and replaces any other Host with the first of server.tls.names', async () => {
    const t = await startTestServer({ env: { FLOTILLA_SERVER_HTTP_PORT: '0', FLOTILLA_SERVER_TLS_NAMES: 'fleet.example.test,10.1.2.3' } });
    try {
      const port = t.server.httpPort ?? 0;
      const https = t.server.port;
      expect((await plainGet(port, 'evil.example')).headers.location).toBe(`https://fleet.example.test:${https}/api/me?x=1`);
      expect((await plainGet(port, '10.1.2.3:80')).headers.location).toBe(`https://10.1.2.3:${https}/api/me?x=1`);
      expect((await plainGet(port, 'localhost:80')).headers.location).toBe(`https://localhost:${https}/api/me?x=1`);
    } finally {
      await t.close();
    }
  });

  it('refuses a publicUrl that is not https at config load', async () => {
    await expect(loadConfig({ env: { FLOTILLA_SERVER_PUBLIC_URL: 'http://fleet.example.com' } })).rejects.toThrow(/server\.publicUrl/);
  });
});

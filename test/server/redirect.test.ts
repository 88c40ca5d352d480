import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedirectServer } from '../../src/server/redirect.js';

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

describe('http -> https redirect listener', () => {
  let server: http.Server;
  let port: number;
  let publicServer: http.Server;
  let publicPort: number;

  beforeAll(async () => {
    server = createRedirectServer({ httpsPort: 8768 });
    port = await listen(server);
    publicServer = createRedirectServer({ httpsPort: 8768, publicHost: 'fleet.example.test' });
    publicPort = await listen(publicServer);
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await new Promise((resolve) => publicServer.close(resolve));
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

  it('replaces the port of IPv4 and IPv6 hosts and omits :443', async () => {
    expect((await get(port, '/', '127.0.0.1:80')).headers.location).toBe('https://127.0.0.1:8768/');
    expect((await get(port, '/', '[::1]:80')).headers.location).toBe('https://[::1]:8768/');
    expect((await get(port, '/', 'Fleet.Example.Test')).headers.location).toBe('https://fleet.example.test:8768/');
    const standard = createRedirectServer({ httpsPort: 443 });
    const standardPort = await listen(standard);
    try {
      expect((await get(standardPort, '/a?b', 'fleet.example.test')).headers.location).toBe('https://fleet.example.test/a?b');
    } finally {
      await new Promise((resolve) => standard.close(resolve));
    }
  });

  it.each([
    ['userinfo', 'evil.example@fleet.example.test'],
    ['a path', 'evil.example/x'],
    ['a space', 'evil.example fleet'],
    ['an encoded CRLF', 'evil.example%0d%0aSet-Cookie:%20x=1'],
    ['a backslash', 'evil.example\\fleet.example.test'],
    ['a non-numeric port', 'fleet.example.test:https'],
    ['an out-of-range port', 'fleet.example.test:99999'],
    ['two ports', 'fleet.example.test:80:81'],
    ['an IPv6 zone id', '[fe80::1%25eth0]'],
    ['an unbracketed IPv6 address', '::1'],
    ['an underscore', 'evil_host.example'],
    ['a leading hyphen', '-evil.example'],
    ['an empty value', ''],
  ])('never reflects a Host header with %s', async (_label, host) => {
    const res = await get(port, '/p?q=1', host);
    expect(res.status).toBe(308);
    expect(res.headers.location).toBe('https://localhost:8768/p?q=1');
  });

  it('uses publicHost when the Host header is missing or invalid, and the Host header when valid', async () => {
    const missing = await rawRequest(publicPort, 'GET /a?b=c HTTP/1.0\r\n\r\n');
    expect(missing.status).toBe(308);
    expect(missing.headers.location).toBe('https://fleet.example.test:8768/a?b=c');
    expect((await get(publicPort, '/a', 'evil.example/x')).headers.location).toBe('https://fleet.example.test:8768/a');
    expect((await get(publicPort, '/a', 'localhost:80')).headers.location).toBe('https://localhost:8768/a');
  });

  it('keeps an explicit port in publicHost', async () => {
    const lb = createRedirectServer({ httpsPort: 8768, publicHost: 'fleet.example.test:443' });
    const lbPort = await listen(lb);
    try {
      expect((await rawRequest(lbPort, 'GET /z HTTP/1.0\r\n\r\n')).headers.location).toBe('https://fleet.example.test/z');
    } finally {
      await new Promise((resolve) => lb.close(resolve));
    }
  });

  it('refuses an invalid publicHost at construction', () => {
    expect(() => createRedirectServer({ httpsPort: 8768, publicHost: 'evil.example/x' })).toThrow(/publicHost/);
    expect(() => createRedirectServer({ httpsPort: 8768, publicHost: 'a b' })).toThrow(/publicHost/);
  });

  it('turns an absolute-form target into a path on our host, never the target host', async () => {
    const res = await get(port, 'http://evil.example/steal?x=1', 'localhost');
    expect(res.status).toBe(308);
    expect(res.headers.location).toBe('https://localhost:8768/steal?x=1');
  });

  it('keeps a protocol-relative-looking path on our host', async () => {
    const res = await get(port, '//evil.example/x', 'localhost');
    expect(res.headers.location).toBe('https://localhost:8768//evil.example/x');
    expect(new URL(res.headers.location ?? '').host).toBe('localhost:8768');
  });

  it('never puts raw non-ASCII bytes from the path into Location', async () => {
    const request = Buffer.concat([
      Buffer.from('GET /caf'),
      Buffer.from([0xc3, 0xa9]),
      Buffer.from('?q=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'),
    ]);
    const res = await rawRequest(port, request);
    // Node's strict parser refuses such bytes today (400); should it ever pass them, they must arrive encoded.
    if (res.status === 400) return;
    expect(res.status).toBe(308);
    expect(res.headers.location).toBe('https://localhost:8768/caf%C3%A9?q=1');
  });
});

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEgressGuard, EgressError } from '../../src/protocol/egress.js';

// Only loopback is ever contacted here; every other address is refused (or checked) without a connection.
describe('egress guard', () => {
  const guard = createEgressGuard();

  it('refuses loopback, private, link-local, metadata and other non-public addresses', async () => {
    for (const url of [
      'http://127.0.0.1/hook',
      'https://[::1]/hook',
      'https://localhost/hook',
      'http://10.1.2.3/',
      'http://172.16.0.1/',
      'http://192.168.1.1/',
      'http://169.254.169.254/latest/meta-data/',
      'http://100.100.100.200/',
      'http://[fd00:ec2::254]/',
      'http://[fe80::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://[64:ff9b::a00:1]/',
      'http://0.0.0.0/',
      'http://224.0.0.1/',
      'http://100.64.0.1/',
    ]) {
      await expect(guard.check(url), url).rejects.toThrow(EgressError);
    }
  });

  it('refuses dangerous ports, other schemes and credentials in the URL', async () => {
    for (const port of [23, 25, 139, 445, 3389]) await expect(guard.check(`https://203.0.113.10:${port}/`)).rejects.toThrow(/port/);
    await expect(guard.check('ftp://203.0.113.10/')).rejects.toThrow(/scheme/);
    await expect(guard.check('file:///etc/passwd')).rejects.toThrow(/scheme/);
    await expect(guard.check('https://user:pw@203.0.113.10/')).rejects.toThrow(/credentials/);
  });

  it('passes a public address and reports where to connect (no connection is made)', async () => {
    const target = await guard.check('https://93.184.215.14:8443/hook');
    expect(target).toMatchObject({ address: '93.184.215.14', family: 4, port: 8443 });
    expect(await guard.check('https://[2606:4700::1111]/')).toMatchObject({ address: '2606:4700::1111', family: 6, port: 443 });
    // Documentation ranges are not the public internet either.
    await expect(guard.check('https://203.0.113.10/')).rejects.toThrow(/reserved/);
  });

  it('an allowlisted network passes, but never the dangerous ports or metadata', async () => {
    const internal = createEgressGuard({ allowedNetworks: ['127.0.0.0/8', '::1/128', '169.254.0.0/16'] });
    expect((await internal.check('http://localhost:8080/')).address).toMatch(/^(127\.0\.0\.1|::1)$/);
    expect((await internal.check('http://[::1]:8080/')).address).toBe('::1');
    await expect(internal.check('http://127.0.0.1:25/')).rejects.toThrow(/port/);
    await expect(internal.check('http://169.254.169.254/')).rejects.toThrow(/metadata/);
    expect(() => createEgressGuard({ allowedNetworks: ['not-a-network'] })).toThrow(/perimeter.egress.allowedNetworks/);
  });

  describe('connecting through the guarded lookup', () => {
    let server: http.Server;
    let port: number;
    beforeAll(async () => {
      server = http.createServer((_req, res) => res.end('hook received'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    const get = (lookup: ReturnType<typeof createEgressGuard>['lookup']) =>
      new Promise<string>((resolve, reject) => {
        http
          .get({ host: 'localhost', port, path: '/', lookup, family: 4 }, (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => resolve(body));
          })
          .on('error', reject);
      });

    it('refuses to connect to a name that resolves to loopback', async () => {
      await expect(get(guard.lookup)).rejects.toThrow(/refused/);
    });

    it('connects to the checked address when the network is allowlisted', async () => {
      const internal = createEgressGuard({ allowedNetworks: ['127.0.0.0/8', '::1/128'] });
      expect(await get(internal.lookup)).toBe('hook received');
    });
  });
});

import { createPrivateKey, webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, startTestServer, STRONG_PASSWORD, type TestServer } from '../harness/server.js';
import { expectSecurityHeaders } from './helpers.js';

type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY = 86_400_000;

interface Issued {
  certPem: string;
  keyPem: string;
  keys: CryptoKeyPair;
  cert: x509.X509Certificate;
}

async function keyPemOf(keys: CryptoKeyPair): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString();
}

async function makeCa(name: string): Promise<Issued> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '01',
      name: `CN=${name}`,
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + 30 * DAY),
      keys,
      signingAlgorithm: ALG,
      extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
    },
    webcrypto,
  );
  return { certPem: cert.toString('pem'), keyPem: await keyPemOf(keys), keys, cert };
}

async function makeClient(ca: Issued, opts: { notBefore: Date; notAfter: Date }): Promise<Issued> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: '02',
      subject: 'CN=ops-laptop',
      issuer: ca.cert.subject,
      notBefore: opts.notBefore,
      notAfter: opts.notAfter,
      signingKey: ca.keys.privateKey,
      publicKey: keys.publicKey,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      ],
    },
    webcrypto,
  );
  return { certPem: cert.toString('pem'), keyPem: await keyPemOf(keys), keys, cert };
}

function adminGet(port: number, serverCa: string, path: string, client: Issued | null, bearer?: string): Promise<{ status: number; headers: Record<string, unknown>; json: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path,
        servername: 'localhost',
        ca: serverCa,
        agent: false,
        ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
        headers: bearer ? { authorization: `Bearer ${bearer}` } : {},
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: body ? JSON.parse(body) : undefined }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('the mutual-TLS admin listener', () => {
  let t: TestServer;
  let dir: string;
  let ca: Issued;
  let valid: Issued;
  let expired: Issued;
  let foreign: Issued;
  let bearer: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-mtls-'));
    ca = await makeCa('Flotilla admin CA');
    const otherCa = await makeCa('Someone else');
    valid = await makeClient(ca, { notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) });
    expired = await makeClient(ca, { notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
    foreign = await makeClient(otherCa, { notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) });
    writeFileSync(join(dir, 'ca.pem'), ca.certPem);
    t = await startTestServer({ env: { FLOTILLA_PERIMETER_ADMIN_LISTENER_PORT: '0', FLOTILLA_PERIMETER_ADMIN_LISTENER_CA_FILE: join(dir, 'ca.pem') } });
    await adminClient(t);
    bearer = (await t.client().post('/api/auth/token', { username: 'admin', password: STRONG_PASSWORD })).json.accessToken;
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const port = () => t.server.adminPort ?? 0;
  const serverCa = () => t.server.certificate.certPem;

  it('serves admin routes to a client certificate from the configured CA', async () => {
    expect(port()).toBeGreaterThan(0);
    const res = await adminGet(port(), serverCa(), '/api/admin/users', valid, bearer);
    expect(res.status).toBe(200);
    expect(res.json.items.length).toBeGreaterThan(0);
    expectSecurityHeaders(res.headers, 'admin listener', { noStore: true });
    // Authentication still applies behind the certificate.
    expect((await adminGet(port(), serverCa(), '/api/admin/users', valid)).status).toBe(401);
    // The rest of the app is reachable there too (an admin signs in on it).
    expect((await adminGet(port(), serverCa(), '/api/me', valid, bearer)).status).toBe(200);
  });

  it('answers admin routes 404 on the public listener, even for an admin', async () => {
    for (const path of ['/api/admin/users', '/api/admin/security/blocks', '/admin', '/api/%61dmin/users']) {
      const res = await t.client().get(path, { bearer, cookies: false });
      expect(res.status, path).toBe(404);
      expect(res.json).toEqual({ error: { code: 'not_found', message: 'no such route' } });
    }
    expect((await t.client().get('/api/me', { bearer, cookies: false })).status).toBe(200);
    expect(t.server.app.perimeter.stats.refused.admin_listener_only).toBeGreaterThanOrEqual(4);
  });

  it('refuses the handshake without a certificate, with an expired one, or one from another CA', async () => {
    for (const [what, client] of [
      ['none', null],
      ['expired', expired],
      ['wrong CA', foreign],
    ] as const) {
      await expect(adminGet(port(), serverCa(), '/api/admin/users', client, bearer), what).rejects.toThrow(/certificate|alert|ECONNRESET|socket hang up/i);
    }
  });
});

import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash, createPrivateKey, generateKeyPairSync, webcrypto, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/lib/clock.js';
import {
  CertificateError,
  ensureSelfSigned,
  fingerprintOf,
  loadCertificate,
  startCertificateRenewal,
  tlsContextOptions,
  TLS_OPTIONS,
  type ServerCertificate,
} from '../../src/server/tls.js';

const DAY_MS = 86_400_000;
const AEAD = /(GCM|CHACHA20)/;

function onPath(binary: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${binary}`]).status === 0;
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'flotilla-tls-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let dirCount = 0;
const freshDir = (): string => join(root, `case-${++dirCount}`, 'tls');

async function listen(options: tls.SecureContextOptions): Promise<https.Server> {
  const server = https.createServer(options as https.ServerOptions, (_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}
const portOf = (server: https.Server): number => (server.address() as AddressInfo).port;
const close = (server: https.Server): Promise<unknown> => new Promise((resolve) => server.close(resolve));

type Handshake =
  | { ok: true; protocol: string | null; cipher: string; group: string | undefined; fingerprint: string }
  | { ok: false; error: string };

/** One TLS handshake; by default trusts nothing and verifies nothing, so only the server's policy decides. */
function handshake(server: https.Server, options: tls.ConnectionOptions = {}): Promise<Handshake> {
  return new Promise((resolve) => {
    let socket: tls.TLSSocket;
    try {
      socket = tls.connect({ host: '127.0.0.1', port: portOf(server), rejectUnauthorized: false, ...options });
    } catch (err) {
      // e.g. "no cipher match" when this OpenSSL cannot offer the requested suite at all
      resolve({ ok: false, error: (err as Error).message });
      return;
    }
    socket.setTimeout(5_000, () => socket.destroy(new Error('timeout')));
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate();
      resolve({
        ok: true,
        protocol: socket.getProtocol(),
        cipher: socket.getCipher().name,
        group: (socket.getEphemeralKeyInfo() as { name?: string }).name,
        fingerprint: `sha256:${createHash('sha256').update(peer.raw).digest('hex')}`,
      });
      socket.destroy();
    });
    socket.once('error', (err) => resolve({ ok: false, error: err.message }));
  });
}

/** How an agent with `--pin` connects: no CA, but the leaf's SHA-256 must equal the pin. */
async function connectPinned(server: https.Server, pin: string): Promise<boolean> {
  const result = await handshake(server, { rejectUnauthorized: false, servername: 'localhost' });
  return result.ok && result.fingerprint === pin;
}

/** Lets old clients and every suite in, so each refusal below is shown to come from TLS_OPTIONS. */
const permissive = (cert: ServerCertificate): tls.SecureContextOptions => ({
  cert: cert.certPem,
  key: cert.keyPem,
  minVersion: 'TLSv1',
  ciphers: 'TLS_AES_128_CCM_8_SHA256:TLS_AES_128_CCM_SHA256:TLS_AES_128_GCM_SHA256:ALL@SECLEVEL=0',
});

/** An RSA certificate, to check the RSA half of the suite list. */
async function rsaCertificate(): Promise<ServerCertificate> {
  const alg = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: 'CN=localhost',
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + DAY_MS),
      keys,
      signingAlgorithm: alg,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'localhost' }])],
    },
    webcrypto,
  );
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${der.toString('base64')}\n-----END PRIVATE KEY-----\n`;
  const certPem = cert.toString('pem');
  return { certPem, keyPem, fingerprint: fingerprintOf(certPem), notAfterMs: cert.notAfter.getTime(), selfSigned: true };
}

describe('self-signed certificate', () => {
  it('is an ECDSA P-256 server certificate for localhost, loopback, the host name and configured names', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const cert = await ensureSelfSigned({ dir: freshDir(), names: ['fleet.example.test', '10.1.2.3', '2001:db8::5', '[fd00::7]'], clock });
    const leaf = new X509Certificate(cert.certPem);

    for (const name of ['localhost', hostname().toLowerCase(), 'fleet.example.test']) expect(leaf.checkHost(name), name).toBe(name);
    for (const ip of ['127.0.0.1', '::1', '10.1.2.3', '2001:db8::5', 'fd00::7']) expect(leaf.checkIP(ip), ip).toBe(ip);
    expect(leaf.checkHost('other.example.test')).toBeUndefined();
    expect(leaf.subjectAltName).toContain('DNS:localhost');

    expect(leaf.publicKey.asymmetricKeyType).toBe('ec');
    expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(leaf.ca).toBe(false);
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // node reports the extended key usage here
    const parsed = new x509.X509Certificate(cert.certPem);
    expect(parsed.getExtension(x509.KeyUsagesExtension)?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    expect(parsed.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(parsed.serialNumber).toMatch(/^[4-7][0-9a-f]{31}$/);

    expect(Date.parse(leaf.validFrom)).toBe(clock.nowMs() - 5 * 60_000);
    expect(cert.notAfterMs).toBe(clock.nowMs() + 397 * DAY_MS);
    expect(Date.parse(leaf.validTo)).toBe(cert.notAfterMs);
    expect(cert.selfSigned).toBe(true);
    expect(leaf.verify(leaf.publicKey)).toBe(true);
  });

  it('gives each certificate a fresh random serial and key', async () => {
    const clock = new ManualClock(Date.now());
    const a = await ensureSelfSigned({ dir: freshDir(), names: [], clock });
    const b = await ensureSelfSigned({ dir: freshDir(), names: [], clock });
    expect(new X509Certificate(a.certPem).serialNumber).not.toBe(new X509Certificate(b.certPem).serialNumber);
    expect(a.keyPem).not.toBe(b.keyPem);
  });

  it('stores the key 0600 in a 0700 directory', async () => {
    const dir = freshDir();
    const cert = await ensureSelfSigned({ dir, names: [], clock: new ManualClock(Date.now()) });
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'key.pem'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, 'key.pem'), 'utf8')).toBe(cert.keyPem);
    expect(await readFile(join(dir, 'cert.pem'), 'utf8')).toBe(cert.certPem);
  });

  it('has a sha256 fingerprint equal to what openssl and node compute over the DER', async () => {
    const dir = freshDir();
    const cert = await ensureSelfSigned({ dir, names: [], clock: new ManualClock(Date.now()) });
    expect(cert.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(fingerprintOf(cert.certPem)).toBe(cert.fingerprint);
    const fromNode = new X509Certificate(cert.certPem).fingerprint256.replaceAll(':', '').toLowerCase();
    expect(cert.fingerprint).toBe(`sha256:${fromNode}`);
    if (onPath('openssl')) {
      const out = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', join(dir, 'cert.pem')], { encoding: 'utf8' });
      const fromOpenssl = (out.split('=')[1] ?? '').trim().replaceAll(':', '').toLowerCase();
      expect(cert.fingerprint).toBe(`sha256:${fromOpenssl}`);
    }
  });

  it('reuses the stored certificate on the next call', async () => {
    const dir = freshDir();
    const clock = new ManualClock(Date.now());
    const first = await ensureSelfSigned({ dir, names: ['fleet.example.test'], clock });
    const mtime = (await stat(join(dir, 'cert.pem'))).mtimeMs;
    clock.advance(100 * DAY_MS);
    const second = await ensureSelfSigned({ dir, names: ['fleet.example.test'], clock });
    expect(second.fingerprint).toBe(first.fingerprint);
    expect(second.keyPem).toBe(first.keyPem);
    expect((await stat(join(dir, 'cert.pem'))).mtimeMs).toBe(mtime);
  });

  it('renews once the clock is within 30 days of expiry', async () => {
    const dir = freshDir();
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const first = await ensureSelfSigned({ dir, names: [], clock });
    clock.set(first.notAfterMs - 31 * DAY_MS);
    expect((await ensureSelfSigned({ dir, names: [], clock })).fingerprint).toBe(first.fingerprint);
    clock.set(first.notAfterMs - 30 * DAY_MS);
    const renewed = await ensureSelfSigned({ dir, names: [], clock });
    expect(renewed.fingerprint).not.toBe(first.fingerprint);
    expect(renewed.notAfterMs).toBe(clock.nowMs() + 397 * DAY_MS);
    expect(await readFile(join(dir, 'cert.pem'), 'utf8')).toBe(renewed.certPem);
  });

  it('honours validityDays and renewBeforeDays', async () => {
    const dir = freshDir();
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const first = await ensureSelfSigned({ dir, names: [], clock, validityDays: 10, renewBeforeDays: 2 });
    expect(first.notAfterMs).toBe(clock.nowMs() + 10 * DAY_MS);
    clock.advance(7 * DAY_MS);
    expect((await ensureSelfSigned({ dir, names: [], clock, validityDays: 10, renewBeforeDays: 2 })).fingerprint).toBe(first.fingerprint);
    clock.advance(DAY_MS);
    expect((await ensureSelfSigned({ dir, names: [], clock, validityDays: 10, renewBeforeDays: 2 })).fingerprint).not.toBe(first.fingerprint);
    await expect(ensureSelfSigned({ dir, names: [], clock, validityDays: 5, renewBeforeDays: 5 })).rejects.toThrow(CertificateError);
  });

  it('regenerates when the requested names are no longer covered, and only then', async () => {
    const dir = freshDir();
    const clock = new ManualClock(Date.now());
    const first = await ensureSelfSigned({ dir, names: ['a.example.test', '2001:db8::5'], clock });
    // A subset, other spellings of the same names: still covered.
    const same = await ensureSelfSigned({ dir, names: ['A.Example.Test', '2001:DB8:0:0::5'], clock });
    expect(same.fingerprint).toBe(first.fingerprint);
    const more = await ensureSelfSigned({ dir, names: ['a.example.test', '2001:db8::5', 'b.example.test'], clock });
    expect(more.fingerprint).not.toBe(first.fingerprint);
    expect(new X509Certificate(more.certPem).checkHost('b.example.test')).toBe('b.example.test');
    const ip = await ensureSelfSigned({ dir, names: ['a.example.test', '2001:db8::5', 'b.example.test', '192.0.2.9'], clock });
    expect(ip.fingerprint).not.toBe(more.fingerprint);
    expect(new X509Certificate(ip.certPem).checkIP('192.0.2.9')).toBe('192.0.2.9');
  });

  it('refuses a configured name that is neither a DNS name nor an IP', async () => {
    for (const bad of ['evil.example/x', 'a b', 'user@host', 'host:8768', '-bad.example']) {
      await expect(ensureSelfSigned({ dir: freshDir(), names: [bad], clock: new ManualClock() }), bad).rejects.toThrow(CertificateError);
    }
  });

  it('replaces a damaged or mismatched stored pair', async () => {
    const dir = freshDir();
    const clock = new ManualClock(Date.now());
    const first = await ensureSelfSigned({ dir, names: [], clock });
    await writeFile(join(dir, 'cert.pem'), 'not a certificate');
    const afterDamage = await ensureSelfSigned({ dir, names: [], clock });
    expect(afterDamage.fingerprint).not.toBe(first.fingerprint);

    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    await writeFile(join(dir, 'key.pem'), other, { mode: 0o600 });
    const afterMismatch = await ensureSelfSigned({ dir, names: [], clock });
    expect(afterMismatch.fingerprint).not.toBe(afterDamage.fingerprint);
    expect(new X509Certificate(afterMismatch.certPem).checkPrivateKey(createPrivateKey(afterMismatch.keyPem))).toBe(true);
  });
});

describe('loadCertificate', () => {
  let dir: string;
  let cert: ServerCertificate;
  beforeAll(async () => {
    dir = freshDir();
    cert = await ensureSelfSigned({ dir, names: [], clock: new ManualClock(Date.now()) });
  });

  it('loads a matching pair with the same fingerprint', async () => {
    const loaded = await loadCertificate(join(dir, 'cert.pem'), join(dir, 'key.pem'));
    expect(loaded).toEqual({ ...cert, selfSigned: false });
  });

  it('fingerprints the leaf of a chain file and serves the whole chain', async () => {
    const other = await ensureSelfSigned({ dir: freshDir(), names: [], clock: new ManualClock(Date.now()) });
    const chainFile = join(dir, 'chain.pem');
    await writeFile(chainFile, cert.certPem + other.certPem);
    const loaded = await loadCertificate(chainFile, join(dir, 'key.pem'));
    expect(loaded.fingerprint).toBe(cert.fingerprint);
    expect(loaded.certPem).toBe(cert.certPem + other.certPem);
  });

  it('names the file and the reason, never the key material', async () => {
    const missing = join(dir, 'missing.pem');
    await expect(loadCertificate(missing, join(dir, 'key.pem'))).rejects.toThrow(`cannot read TLS certificate file ${missing} (ENOENT)`);
    await expect(loadCertificate(join(dir, 'cert.pem'), missing)).rejects.toThrow(/cannot read TLS private key file .*ENOENT/);

    const garbageCert = join(dir, 'garbage-cert.pem');
    await writeFile(garbageCert, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    await expect(loadCertificate(garbageCert, join(dir, 'key.pem'))).rejects.toThrow(/does not hold a valid PEM certificate/);

    const secretish = 'c2VjcmV0LWtleS1tYXRlcmlhbC10aGF0LW11c3Qtbm90LWxlYWs';
    const garbageKey = join(dir, 'garbage-key.pem');
    await writeFile(garbageKey, `-----BEGIN PRIVATE KEY-----\n${secretish}\n-----END PRIVATE KEY-----\n`);
    const otherKeyFile = join(dir, 'other-key.pem');
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    await writeFile(otherKeyFile, otherKey);

    for (const [keyFile, expected] of [
      [garbageKey, /does not hold an unencrypted PEM private key/],
      [otherKeyFile, /does not match the certificate/],
    ] as const) {
      const err = await loadCertificate(join(dir, 'cert.pem'), keyFile).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CertificateError);
      const text = `${(err as Error).message} ${String((err as Error).cause ?? '')}`;
      expect(text).toMatch(expected);
      for (const secret of [secretish, otherKey.split('\n')[1] ?? 'x', cert.keyPem.split('\n')[1] ?? 'x']) expect(text).not.toContain(secret);
      expect(text).not.toContain('PRIVATE KEY-----');
    }
  });
});

describe('listener TLS policy', () => {
  let cert: ServerCertificate;
  let rsa: ServerCertificate;
  let ours: https.Server;
  let oursRsa: https.Server;
  let control: https.Server;
  let controlRsa: https.Server;

  beforeAll(async () => {
    cert = await ensureSelfSigned({ dir: freshDir(), names: ['fleet.example.test', '10.1.2.3'], clock: new ManualClock(Date.now()) });
    rsa = await rsaCertificate();
    ours = await listen(tlsContextOptions(cert));
    oursRsa = await listen(tlsContextOptions(rsa));
    control = await listen(permissive(cert));
    controlRsa = await listen(permissive(rsa));
  });
  afterAll(async () => {
    await Promise.all([ours, oursRsa, control, controlRsa].map(close));
  });

  it('completes a verified TLS 1.3 handshake with an AEAD suite over X25519', async () => {
    const result = await handshake(ours, { ca: cert.certPem, rejectUnauthorized: true, servername: 'localhost', minVersion: 'TLSv1.3' });
    expect(result).toMatchObject({ ok: true, protocol: 'TLSv1.3', group: 'X25519', fingerprint: cert.fingerprint });
    expect(result.ok && result.cipher).toMatch(AEAD);
  });

  it('completes a verified TLS 1.2 handshake with an ECDHE AEAD suite', async () => {
    const result = await handshake(ours, { ca: cert.certPem, rejectUnauthorized: true, servername: 'fleet.example.test', maxVersion: 'TLSv1.2' });
    expect(result).toMatchObject({ ok: true, protocol: 'TLSv1.2' });
    expect(result.ok && result.cipher).toMatch(/^ECDHE-ECDSA-.*(GCM|CHACHA20)/);
  });

  it('verifies by IP address SAN too', async () => {
    const result = await handshake(ours, { ca: cert.certPem, rejectUnauthorized: true });
    expect(result.ok).toBe(true);
    const wrong = await handshake(ours, { ca: cert.certPem, rejectUnauthorized: true, servername: 'other.example.test' });
    expect(wrong).toMatchObject({ ok: false });
  });

  it.each([
    ['TLS 1.1', 'TLSv1.1'],
    ['TLS 1.0', 'TLSv1'],
  ] as const)('refuses %s', async (_label, version) => {
    // SECLEVEL=0: OpenSSL 3 will not even offer old protocols otherwise.
    const legacy: tls.ConnectionOptions = { minVersion: 'TLSv1', maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0' };
    expect(await handshake(control, legacy)).toMatchObject({ ok: true, protocol: version });
    expect(await handshake(ours, legacy)).toMatchObject({ ok: false, error: expect.stringMatching(/protocol version/) });
  });

  it.each([
    ['ECDHE-ECDSA-AES128-SHA', 'ecdsa'],
    ['ECDHE-ECDSA-AES256-SHA384', 'ecdsa'],
    ['ECDHE-RSA-AES128-SHA', 'rsa'],
    ['ECDHE-RSA-AES256-SHA384', 'rsa'],
    ['AES128-GCM-SHA256', 'rsa'],
  ] as const)('refuses a client offering only %s', async (cipher, key) => {
    const options: tls.ConnectionOptions = { maxVersion: 'TLSv1.2', ciphers: `${cipher}@SECLEVEL=0` };
    expect(await handshake(key === 'rsa' ? controlRsa : control, options)).toMatchObject({ ok: true, cipher });
    expect(await handshake(key === 'rsa' ? oursRsa : ours, options)).toMatchObject({ ok: false });
  });

  it.each(['TLS_AES_128_CCM_8_SHA256', 'TLS_AES_128_CCM_SHA256'])('refuses a TLS 1.3 client offering only %s', async (suite) => {
    const options: tls.ConnectionOptions = { minVersion: 'TLSv1.3', ciphers: suite };
    expect(await handshake(control, options)).toMatchObject({ ok: true, cipher: suite });
    expect(await handshake(ours, options)).toMatchObject({ ok: false });
  });

  it('accepts exactly the ECDHE + AEAD suites, found by trying every suite this OpenSSL knows', async () => {
    const accepted = async (server: https.Server): Promise<string[]> => {
      const names: string[] = [];
      for (const name of tls.getCiphers()) {
        const suite = name.toUpperCase();
        const options: tls.ConnectionOptions = suite.startsWith('TLS_')
          ? { minVersion: 'TLSv1.3', ciphers: suite }
          : { minVersion: 'TLSv1', maxVersion: 'TLSv1.2', ciphers: `${suite}@SECLEVEL=0` };
        const result = await handshake(server, options);
        if (result.ok) names.push(result.cipher);
      }
      return names.sort();
    };
    const tls13 = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];
    expect(await accepted(ours)).toEqual(
      [...tls13, 'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305'].sort(),
    );
    expect(await accepted(oursRsa)).toEqual(
      [...tls13, 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-CHACHA20-POLY1305'].sort(),
    );
    // The scan itself is sound: a permissive server accepts far more.
    expect((await accepted(control)).length).toBeGreaterThan(6);
  });

  it('uses only the configured curves', async () => {
    expect(await handshake(ours, { ecdhCurve: 'P-256' })).toMatchObject({ ok: true, group: 'prime256v1' });
    expect(await handshake(ours, { ecdhCurve: 'P-384' })).toMatchObject({ ok: true, group: 'secp384r1' });
    expect(await handshake(control, { ecdhCurve: 'P-521' })).toMatchObject({ ok: true });
    expect(await handshake(ours, { ecdhCurve: 'P-521' })).toMatchObject({ ok: false });
  });

  it('refuses client-initiated renegotiation', async () => {
    const renegotiate = (server: https.Server): Promise<string> =>
      new Promise((resolve) => {
        const socket = tls.connect({ host: '127.0.0.1', port: portOf(server), rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
        socket.once('secureConnect', () => {
          socket.renegotiate({ rejectUnauthorized: false }, (err) => {
            resolve(err ? 'refused' : 'renegotiated');
            socket.destroy();
          });
        });
        socket.once('error', () => resolve('refused'));
      });
    expect(await renegotiate(control)).toBe('renegotiated');
    expect(await renegotiate(ours)).toBe('refused');
  });

  it('lets a client pinning the fingerprint connect, and not one pinning another', async () => {
    expect(await connectPinned(ours, cert.fingerprint)).toBe(true);
    expect(await connectPinned(ours, rsa.fingerprint)).toBe(false);
  });

  it('lists only ECDHE + AEAD suites and is frozen, so no caller can loosen it for everyone', () => {
    expect(Object.isFrozen(TLS_OPTIONS)).toBe(true);
    expect(TLS_OPTIONS.minVersion).toBe('TLSv1.2');
    for (const suite of TLS_OPTIONS.ciphers.split(':')) {
      expect(suite).toMatch(/^(TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)|ECDHE-(ECDSA|RSA)-(AES128-GCM-SHA256|AES256-GCM-SHA384|CHACHA20-POLY1305))$/);
    }
  });

  it.skipIf(!onPath('sslscan'))('passes sslscan: no legacy protocol, no non-AEAD suite', async () => {
    // Asynchronously: the listener under test runs in this process and must keep answering.
    const { stdout: xml } = await promisify(execFile)('sslscan', ['--no-colour', '--xml=-', `127.0.0.1:${portOf(ours)}`], { encoding: 'utf8', timeout: 120_000 });
    expect(xml).not.toMatch(/<protocol type="ssl" version="[23]" enabled="1"/);
    expect(xml).not.toMatch(/<protocol type="tls" version="1\.[01]" enabled="1"/);
    const accepted = [...xml.matchAll(/<cipher status="(?:preferred|accepted)"[^>]*cipher="([^"]+)"/g)].map((m) => m[1] ?? '');
    expect(accepted.length).toBeGreaterThan(0);
    for (const cipher of accepted) expect(cipher).toMatch(AEAD);
  });
});

describe('certificate renewal', () => {
  it('renews on a timer and the listener serves the new certificate with the same policy', async () => {
    const dir = freshDir();
    const clock = new ManualClock(Date.now());
    const first = await ensureSelfSigned({ dir, names: [], clock });
    const server = await listen(tlsContextOptions(first));
    const renewed: ServerCertificate[] = [];
    const stop = startCertificateRenewal({
      dir,
      names: [],
      clock,
      intervalMs: 20,
      onRenew: (cert) => {
        renewed.push(cert);
        server.setSecureContext(tlsContextOptions(cert));
      },
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 120));
      expect(renewed).toHaveLength(0);

      clock.set(first.notAfterMs - 29 * DAY_MS);
      await vi.waitFor(() => expect(renewed).toHaveLength(1), { timeout: 5_000 });
      const next = renewed[0] as ServerCertificate;
      expect(next.fingerprint).not.toBe(first.fingerprint);
      expect(await handshake(server)).toMatchObject({ ok: true, fingerprint: next.fingerprint });
      expect(await connectPinned(server, next.fingerprint)).toBe(true);
      // The swapped-in context still carries the policy.
      expect(await handshake(server, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' })).toMatchObject({ ok: false });
      expect(await handshake(server, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA@SECLEVEL=0' })).toMatchObject({ ok: false });

      // Nothing further to renew: no more callbacks.
      await new Promise((resolve) => setTimeout(resolve, 120));
      expect(renewed).toHaveLength(1);
    } finally {
      stop();
      await close(server);
    }
  });

  it('reports failures to onError and stops when asked', async () => {
    const blocker = join(root, 'not-a-dir');
    await writeFile(blocker, 'x');
    const errors: unknown[] = [];
    const renewed: ServerCertificate[] = [];
    const stop = startCertificateRenewal({
      dir: join(blocker, 'tls'),
      names: [],
      clock: new ManualClock(),
      intervalMs: 10,
      onRenew: (cert) => renewed.push(cert),
      onError: (err) => errors.push(err),
    });
    await vi.waitFor(() => expect(errors.length).toBeGreaterThanOrEqual(2), { timeout: 5_000 });
    stop();
    const count = errors.length;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(errors.length).toBe(count);
    expect(renewed).toHaveLength(0);
  });
});

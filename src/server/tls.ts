import { constants, createHash, createPrivateKey, randomBytes, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import * as x509 from '@peculiar/x509';
import ipaddr from 'ipaddr.js';
import { writeFileAtomic } from '../lib/atomic-file.js';
import type { Clock } from '../lib/clock.js';

/**
 * Listener TLS policy: TLS 1.2 and 1.3 only, ECDHE key exchange
 * with AEAD ciphers only. TLS 1.3 suites are named explicitly too, so OpenSSL's
 * CCM / CCM_8 suites can never be switched on by a system-wide default.
 * Pass these again on every `setSecureContext`: a new context does not inherit them.
 */
export const TLS_OPTIONS = Object.freeze({
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  honorCipherOrder: true,
  ecdhCurve: 'X25519:P-256:P-384',
  // Client-initiated renegotiation is a cheap CPU-exhaustion lever and TLS 1.3 has none.
  secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
} as const satisfies SecureContextOptions);

export interface ServerCertificate {
  /** The certificate, or the leaf followed by its chain for a supplied one. */
  certPem: string;
  keyPem: string;
  /** 'sha256:' + lowercase hex of SHA-256 over the leaf's DER. */
  fingerprint: string;
  notAfterMs: number;
  selfSigned: boolean;
}

/** Options for a listener or `setSecureContext`: the fixed policy plus this certificate. */
export function tlsContextOptions(cert: ServerCertificate): SecureContextOptions {
  return { ...TLS_OPTIONS, cert: cert.certPem, key: cert.keyPem };
}

/** A bad or unreadable certificate or key; messages name files, never their contents. */
export class CertificateError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CertificateError';
  }
}

const DAY_MS = 86_400_000;
const CERT_FILE = 'cert.pem';
const KEY_FILE = 'key.pem';
const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

export function fingerprintOf(certPem: string): string {
  return fingerprintOfLeaf(new X509Certificate(firstCertificateBlock(certPem)));
}

function fingerprintOfLeaf(leaf: X509Certificate): string {
  return `sha256:${createHash('sha256').update(leaf.raw).digest('hex')}`;
}

/** The leaf of a PEM bundle (files from a CA usually carry the chain after it). */
function firstCertificateBlock(pem: string): string {
  const match = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem);
  if (!match) throw new CertificateError('no PEM certificate found');
  return match[0];
}

/** Parses a certificate/key pair and checks the key belongs to the certificate. */
function parsePair(certPem: string, keyPem: string): { leaf: X509Certificate; notAfterMs: number } {
  const leaf = new X509Certificate(firstCertificateBlock(certPem));
  const key = createPrivateKey(keyPem);
  if (!leaf.checkPrivateKey(key)) throw new CertificateError('the private key does not match the certificate');
  const notAfterMs = Date.parse(leaf.validTo);
  if (Number.isNaN(notAfterMs)) throw new CertificateError('the certificate has an unreadable expiry date');
  return { leaf, notAfterMs };
}

/** Loads an operator-supplied certificate and key; any problem stops the boot with a clear message. */
export async function loadCertificate(certFile: string, keyFile: string): Promise<ServerCertificate> {
  const certPem = await readTextFile(certFile, 'certificate');
  const keyPem = await readTextFile(keyFile, 'private key');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(firstCertificateBlock(certPem));
  } catch (err) {
    throw new CertificateError(`TLS certificate file ${certFile} does not hold a valid PEM certificate`, { cause: err });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    // The cause is OpenSSL's decoder message, which never echoes the input.
    throw new CertificateError(`TLS key file ${keyFile} does not hold an unencrypted PEM private key`, { cause: err });
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new CertificateError(`TLS key file ${keyFile} does not match the certificate in ${certFile}`);
  }
  const notAfterMs = Date.parse(leaf.validTo);
  if (Number.isNaN(notAfterMs)) throw new CertificateError(`TLS certificate file ${certFile} has an unreadable expiry date`);
  return { certPem, keyPem, fingerprint: fingerprintOfLeaf(leaf), notAfterMs, selfSigned: false };
}

async function readTextFile(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new CertificateError(`cannot read TLS ${what} file ${file} (${code})`, { cause: err });
  }
}

export interface SelfSignedOptions {
  /** Directory holding cert.pem and key.pem (created 0700). */
  dir: string;
  /** Extra DNS names or IP literals beyond localhost, loopback and the host name. */
  names: readonly string[];
  clock: Clock;
  validityDays?: number;
  renewBeforeDays?: number;
}

type SanName = { type: 'dns' | 'ip'; value: string };

/**
 * Returns the stored self-signed certificate, or a fresh one when none is stored,
 * the stored pair is unusable, it expires within `renewBeforeDays`, or its SANs no
 * longer cover the requested names.
 */
export async function ensureSelfSigned(opts: SelfSignedOptions): Promise<ServerCertificate> {
  return (await ensureSelfSignedDetailed(opts)).cert;
}

async function ensureSelfSignedDetailed(opts: SelfSignedOptions): Promise<{ cert: ServerCertificate; generated: boolean }> {
  const validityDays = opts.validityDays ?? 397;
  const renewBeforeDays = opts.renewBeforeDays ?? 30;
  if (!(renewBeforeDays >= 0 && validityDays > renewBeforeDays)) {
    throw new CertificateError('validityDays must exceed renewBeforeDays');
  }
  const wanted = requiredNames(opts.names);
  await mkdir(opts.dir, { recursive: true, mode: 0o700 });
  await chmod(opts.dir, 0o700);

  const stored = await readStored(opts.dir);
  const now = opts.clock.nowMs();
  if (stored && stored.notBeforeMs <= now && stored.cert.notAfterMs - now > renewBeforeDays * DAY_MS && covers(stored.sans, wanted)) {
    return { cert: stored.cert, generated: false };
  }
  const cert = await generateSelfSigned(wanted, now, validityDays);
  // Key first, each through a rename, so a crash leaves a mismatched pair (regenerated) rather than a torn file.
  await writeFileAtomic(join(opts.dir, KEY_FILE), cert.keyPem, 0o600);
  await writeFileAtomic(join(opts.dir, CERT_FILE), cert.certPem, 0o644);
  return { cert, generated: true };
}

/** The SANs every generated certificate carries, then the configured ones; a bad name stops the boot. */
function requiredNames(configured: readonly string[]): SanName[] {
  const names: SanName[] = [
    { type: 'dns', value: 'localhost' },
    { type: 'ip', value: normalizeIp('127.0.0.1') },
    { type: 'ip', value: normalizeIp('::1') },
  ];
  const host = hostname().toLowerCase();
  // A host name that is not a valid DNS name (rare, but legal on some systems) is left out, not fatal.
  if (isDnsName(host)) names.push({ type: 'dns', value: host });
  for (const raw of configured) {
    const name = raw.trim().replace(/^\[(.*)\]$/, '$1');
    if (isIP(name) !== 0) names.push({ type: 'ip', value: normalizeIp(name) });
    else if (isDnsName(name.toLowerCase(), true)) names.push({ type: 'dns', value: name.toLowerCase() });
    else throw new CertificateError(`server.tls.names: "${raw}" is neither a DNS name nor an IP address`);
  }
  const seen = new Set<string>();
  return names.filter((n) => {
    const key = `${n.type}:${n.value}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

function isDnsName(name: string, allowWildcard = false): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.replace(/\.$/, '').split('.');
  if (allowWildcard && labels[0] === '*' && labels.length > 2) labels.shift();
  return labels.every((label) => LABEL.test(label));
}

/** One spelling per address (RFC 5952 for IPv6), so stored and requested SANs compare equal. */
function normalizeIp(ip: string): string {
  return ipaddr.parse(ip).toString();
}

function covers(have: SanName[], wanted: SanName[]): boolean {
  const keys = new Set(have.map((n) => `${n.type}:${n.value}`));
  return wanted.every((n) => keys.has(`${n.type}:${n.value}`));
}

async function readStored(dir: string): Promise<{ cert: ServerCertificate; sans: SanName[]; notBeforeMs: number } | undefined> {
  let certPem: string;
  let keyPem: string;
  try {
    certPem = await readFile(join(dir, CERT_FILE), 'utf8');
    keyPem = await readFile(join(dir, KEY_FILE), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const { leaf, notAfterMs } = parsePair(certPem, keyPem);
    const notBeforeMs = Date.parse(leaf.validFrom);
    const sans = sanNamesOf(certPem);
    if (Number.isNaN(notBeforeMs)) return undefined;
    return { cert: { certPem, keyPem, fingerprint: fingerprintOfLeaf(leaf), notAfterMs, selfSigned: true }, sans, notBeforeMs };
  } catch {
    // A damaged or mismatched pair is simply replaced.
    return undefined;
  }
}

/** The DNS names and IP addresses the leaf certificate is valid for (wildcards included as written). */
export function certificateNames(certPem: string): string[] {
  return sanNamesOf(firstCertificateBlock(certPem)).map((n) => n.value);
}

function sanNamesOf(certPem: string): SanName[] {
  const ext = new x509.X509Certificate(certPem).getExtension(x509.SubjectAlternativeNameExtension);
  if (!ext) return [];
  return ext.names.toJSON().flatMap((n): SanName[] => {
    if (n.type === 'dns') return [{ type: 'dns', value: n.value.toLowerCase() }];
    if (n.type === 'ip' && ipaddr.isValid(n.value)) return [{ type: 'ip', value: normalizeIp(n.value) }];
    return [];
  });
}

async function generateSelfSigned(names: SanName[], nowMs: number, validityDays: number): Promise<ServerCertificate> {
  const keys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify']);
  const serial = randomBytes(16);
  // Positive and without a leading zero byte, so the DER INTEGER is exactly 16 bytes.
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  const generated = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial.toString('hex'),
      name: 'CN=Flotilla self-signed, O=Flotilla',
      // Five minutes back so clients with slightly slow clocks accept it at once.
      notBefore: new Date(nowMs - 5 * 60_000),
      notAfter: new Date(nowMs + validityDays * DAY_MS),
      keys,
      signingAlgorithm: ECDSA_P256,
      extensions: [
        new x509.SubjectAlternativeNameExtension(names.map((n) => ({ type: n.type, value: n.value }))),
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString();
  const certPem = generated.toString('pem') + '\n';
  const leaf = new X509Certificate(certPem);
  return { certPem, keyPem, fingerprint: fingerprintOfLeaf(leaf), notAfterMs: Date.parse(leaf.validTo), selfSigned: true };
}

export interface CertificateRenewalOptions extends SelfSignedOptions {
  /** Called with each newly generated certificate; the caller swaps it in with `setSecureContext(tlsContextOptions(cert))`. */
  onRenew(cert: ServerCertificate): void;
  /** Called when a renewal attempt fails; the next attempt still runs. */
  onError?(err: unknown): void;
  /** Default 6 hours; renewal happens `renewBeforeDays` early, so a few checks a day suffice. */
  intervalMs?: number;
}

/** Periodically renews the self-signed certificate; returns a function that stops it. */
export function startCertificateRenewal(opts: CertificateRenewalOptions): () => void {
  const intervalMs = opts.intervalMs ?? 6 * 3_600_000;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  // A timeout chain rather than setInterval, so a slow check never overlaps the next.
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => void tick(), intervalMs);
    // Renewal alone must not keep the process alive.
    timer.unref();
  };
  const tick = async (): Promise<void> => {
    try {
      const { cert, generated } = await ensureSelfSignedDetailed(opts);
      if (generated && !stopped) opts.onRenew(cert);
    } catch (err) {
      if (!stopped) opts.onError?.(err);
    }
    schedule();
  };

  schedule();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

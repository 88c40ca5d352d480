import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { toBase64url } from '../../src/protocol/base64url.js';
import { canonicalCommand, commandSignerFromSeed, verifyCommand, type CommandPayload, type SignedCommand } from '../../src/protocol/signing.js';

const signer = commandSignerFromSeed(randomBytes(32));
const payload: CommandPayload = {
  id: '0194f3a1-9c8d-7e6f-a5b4-c3d2e1f00918',
  agentId: '0194f3a0-6c1e-7b2a-9d4e-5f6a7b8c9d0e',
  action: 'run_script',
  params: { name: 'rotate-logs', args: { keep: 7, dirs: ['/var/log/app', '/var/log/web'] } },
  nonce: 'AAECAwQFBgcICQoLDA0ODw',
  issuedAt: 1_767_268_860_000,
  expiresAt: 1_767_269_160_000,
};

describe('command signing', () => {
  it('signs the seven fields and verifies', () => {
    const signed = signer.sign(payload);
    expect(Object.keys(signed).sort()).toEqual(['action', 'agentId', 'expiresAt', 'id', 'issuedAt', 'nonce', 'params', 'sig']);
    expect(signed.sig).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(signer.publicKeyRaw).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(verifyCommand(signer.publicKeyRaw, signed)).toBe(true);
    // Survives the trip through JSON that it takes on the wire.
    expect(verifyCommand(signer.publicKeyRaw, JSON.parse(JSON.stringify(signed)) as SignedCommand)).toBe(true);
  });

  it('fails when any signed field changes', () => {
    const signed = signer.sign(payload);
    const tampered: Array<[string, SignedCommand]> = [
      ['id', { ...signed, id: '0194f3a1-9c8d-7e6f-a5b4-c3d2e1f00919' }],
      ['agentId', { ...signed, agentId: '0194f3a0-6c1e-7b2a-9d4e-5f6a7b8c9d0f' }],
      ['action', { ...signed, action: 'kill_process' }],
      ['params value', { ...signed, params: { ...signed.params, name: 'wipe-disk' } }],
      ['nested params value', { ...signed, params: { ...signed.params, args: { keep: 8, dirs: ['/var/log/app', '/var/log/web'] } } }],
      ['params array order', { ...signed, params: { ...signed.params, args: { keep: 7, dirs: ['/var/log/web', '/var/log/app'] } } }],
      ['params added key', { ...signed, params: { ...signed.params, force: true } }],
      ['params removed key', { ...signed, params: { name: 'rotate-logs' } }],
      ['nonce', { ...signed, nonce: 'AAECAwQFBgcICQoLDA0ODg' }],
      ['issuedAt', { ...signed, issuedAt: signed.issuedAt + 1 }],
      ['expiresAt', { ...signed, expiresAt: signed.expiresAt + 60_000 }],
    ];
    for (const [what, cmd] of tampered) expect(verifyCommand(signer.publicKeyRaw, cmd), what).toBe(false);
  });

  it('fails under another key', () => {
    const signed = signer.sign(payload);
    expect(verifyCommand(commandSignerFromSeed(randomBytes(32)).publicKeyRaw, signed)).toBe(false);
  });

  it('fails with a garbage signature or public key, without throwing', () => {
    const signed = signer.sign(payload);
    const otherSig = signer.sign({ ...payload, id: '0194f3a1-9c8d-7e6f-a5b4-c3d2e1f00920' }).sig;
    for (const sig of ['', 'garbage', '!'.repeat(86), `${signed.sig}==`, signed.sig.slice(0, 43), toBase64url(randomBytes(64)), otherSig]) {
      expect(verifyCommand(signer.publicKeyRaw, { ...signed, sig }), sig).toBe(false);
    }
    for (const key of ['', 'AAAA', toBase64url(randomBytes(31)), toBase64url(randomBytes(33)), `${signer.publicKeyRaw}=`, '*'.repeat(43)]) {
      expect(verifyCommand(key, signed), key).toBe(false);
    }
  });

  it('refuses malformed commands, including unsigned extra fields', () => {
    const signed = signer.sign(payload);
    const { sig: _sig, ...unsigned } = signed;
    const junk: unknown[] = [
      null, 'cmd', [], unsigned,
      { ...signed, note: 'not signed' },
      { ...signed, params: null }, { ...signed, params: ['a'] },
      { ...signed, issuedAt: 1.5 }, { ...signed, expiresAt: '1767269160000' }, { ...signed, sig: 42 },
      { ...signed, action: '' },
      // v1 commands (no nonce) and nonces that are not exactly 16 bytes.
      (({ nonce: _n, ...v1 }) => v1)(signed),
      { ...signed, nonce: '' }, { ...signed, nonce: 'AAECAwQFBgcICQoLDA0OD' }, { ...signed, nonce: 'AAECAwQFBgcICQoLDA0ODwA' }, { ...signed, nonce: 7 },
    ];
    for (const cmd of junk) expect(verifyCommand(signer.publicKeyRaw, cmd as SignedCommand)).toBe(false);
    expect(() => signer.sign({ ...payload, extra: 1 } as CommandPayload)).toThrow(TypeError);
    expect(() => signer.sign({ ...payload, issuedAt: Number.NaN })).toThrow(TypeError);
  });

  it('signs canonical JSON, so key order does not matter', () => {
    const reordered: CommandPayload = {
      expiresAt: payload.expiresAt,
      params: { args: { dirs: ['/var/log/app', '/var/log/web'], keep: 7 }, name: 'rotate-logs' },
      issuedAt: payload.issuedAt,
      nonce: payload.nonce,
      action: payload.action,
      agentId: payload.agentId,
      id: payload.id,
    };
    expect(canonicalCommand(reordered)).toBe(canonicalCommand(payload));
    expect(signer.sign(reordered).sig).toBe(signer.sign(payload).sig);
    const signed = signer.sign(payload);
    expect(verifyCommand(signer.publicKeyRaw, { ...signed, params: reordered.params })).toBe(true);
    expect(canonicalCommand(payload)).toBe(
      '{"action":"run_script","agentId":"0194f3a0-6c1e-7b2a-9d4e-5f6a7b8c9d0e","expiresAt":1767269160000,' +
        '"id":"0194f3a1-9c8d-7e6f-a5b4-c3d2e1f00918","issuedAt":1767268860000,"nonce":"AAECAwQFBgcICQoLDA0ODw",' +
        '"params":{"args":{"dirs":["/var/log/app","/var/log/web"],"keep":7},"name":"rotate-logs"}}',
    );
  });

  it('derives a stable key from the seed and refuses a seed of the wrong size', () => {
    const seed = randomBytes(32);
    expect(commandSignerFromSeed(seed).publicKeyRaw).toBe(commandSignerFromSeed(seed).publicKeyRaw);
    expect(() => commandSignerFromSeed(randomBytes(31))).toThrow(RangeError);
    expect(() => commandSignerFromSeed(randomBytes(64))).toThrow(RangeError);
  });
});

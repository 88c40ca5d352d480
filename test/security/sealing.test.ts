import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromBase64url, toBase64url } from '../../src/protocol/base64url.js';
import {
  MAX_CT_CHARS,
  MAX_PLAINTEXT_BYTES,
  deriveAgentKey,
  isSealedEnvelope,
  openEnvelope,
  openRekey,
  rekeyAad,
  reportAad,
  resultAad,
  sealEnvelope,
  sealRekey,
  type SealedEnvelope,
} from '../../src/protocol/sealing.js';

const master = randomBytes(32);
const agentId = '0194f3a0-6c1e-7b2a-9d4e-5f6a7b8c9d0e';
const otherAgentId = '0194f3a0-6c1e-7b2a-9d4e-000000000000';
const commandId = '0194f3a1-2b3c-7d4e-8f50-6172839405a6';
const fields = { kid: 1, ts: 1_767_268_800_000, seq: 42 };
const plaintext = Buffer.from(JSON.stringify({ reports: [{ collectedAt: 1_767_268_800_000, uptimeSeconds: 86_400 }] }), 'utf8');
const key = deriveAgentKey(master, agentId, fields.kid);

function sealReport(): SealedEnvelope {
  return sealEnvelope(key, fields, reportAad(agentId, fields.kid, fields.ts, fields.seq), plaintext);
}

function openReport(envelope: SealedEnvelope, withKey: Uint8Array = key): Uint8Array | null {
  return openEnvelope(withKey, envelope, reportAad(agentId, envelope.kid, envelope.ts, envelope.seq));
}

/** Flips one bit of the decoded bytes at `index` (negative counts from the end). */
function flipBit(text: string, index: number): string {
  const bytes = Buffer.from(fromBase64url(text) ?? new Uint8Array());
  const at = index < 0 ? bytes.length + index : index;
  bytes[at] = (bytes[at] ?? 0) ^ 0x01;
  return toBase64url(bytes);
}

describe('sealed envelopes', () => {
  it('round-trips a report and gives the documented shape', () => {
    const envelope = sealReport();
    expect(Object.keys(envelope).sort()).toEqual(['ct', 'kid', 'nonce', 'seq', 'ts', 'v']);
    expect(envelope).toMatchObject({ v: 1, ...fields });
    expect(envelope.nonce).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(fromBase64url(envelope.ct)?.byteLength).toBe(plaintext.byteLength + 16);
    expect(isSealedEnvelope(envelope)).toBe(true);
    expect(Buffer.from(openReport(envelope) ?? [])).toEqual(plaintext);
  });

  it('round-trips a command result bound to its command id', () => {
    const aad = resultAad(agentId, 1, fields.ts, 7, commandId);
    const envelope = sealEnvelope(key, { kid: 1, ts: fields.ts, seq: 7 }, aad, plaintext);
    expect(Buffer.from(openEnvelope(key, envelope, aad) ?? [])).toEqual(plaintext);
    expect(openEnvelope(key, envelope, resultAad(agentId, 1, fields.ts, 7, '0194f3a1-2b3c-7d4e-8f50-000000000000'))).toBeNull();
    // A result cannot pass as a report, nor a report as a result.
    expect(openEnvelope(key, envelope, reportAad(agentId, 1, fields.ts, 7))).toBeNull();
  });

  it('draws a fresh nonce for every seal', () => {
    const a = sealReport();
    const b = sealReport();
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.ct).not.toBe(b.ct);
  });

  it('refuses a flipped tag bit', () => {
    const envelope = sealReport();
    expect(openReport({ ...envelope, ct: flipBit(envelope.ct, -1) })).toBeNull();
  });

  it('refuses a flipped ciphertext bit', () => {
    const envelope = sealReport();
    expect(openReport({ ...envelope, ct: flipBit(envelope.ct, 0) })).toBeNull();
  });

  it('refuses a flipped nonce bit', () => {
    const envelope = sealReport();
    expect(openReport({ ...envelope, nonce: flipBit(envelope.nonce, 0) })).toBeNull();
  });

  it('refuses an envelope whose kid, ts or seq was changed (all are in the AAD)', () => {
    const envelope = sealReport();
    expect(openReport({ ...envelope, kid: 2 })).toBeNull();
    expect(openReport({ ...envelope, ts: envelope.ts + 1 })).toBeNull();
    expect(openReport({ ...envelope, seq: envelope.seq + 1 })).toBeNull();
  });

  it('refuses the AAD of another agent', () => {
    const envelope = sealReport();
    expect(openEnvelope(key, envelope, reportAad(otherAgentId, envelope.kid, envelope.ts, envelope.seq))).toBeNull();
  });

  it("refuses another agent's key and another kid's key", () => {
    const envelope = sealReport();
    expect(openReport(envelope, deriveAgentKey(master, otherAgentId, 1))).toBeNull();
    expect(openReport(envelope, deriveAgentKey(master, agentId, 2))).toBeNull();
    expect(openReport(envelope, deriveAgentKey(randomBytes(32), agentId, 1))).toBeNull();
  });

  it('refuses a truncated ciphertext', () => {
    const envelope = sealReport();
    const bytes = fromBase64url(envelope.ct) ?? new Uint8Array();
    expect(openReport({ ...envelope, ct: toBase64url(bytes.subarray(0, bytes.length - 1)) })).toBeNull();
    expect(openReport({ ...envelope, ct: toBase64url(bytes.subarray(0, 16)) })).toBeNull();
    expect(openReport({ ...envelope, ct: toBase64url(bytes.subarray(0, 15)) })).toBeNull();
    expect(openReport({ ...envelope, ct: '' })).toBeNull();
  });

  it('refuses a nonce of the wrong length', () => {
    const envelope = sealReport();
    expect(openReport({ ...envelope, nonce: toBase64url(randomBytes(8)) })).toBeNull();
    expect(openReport({ ...envelope, nonce: toBase64url(randomBytes(16)) })).toBeNull();
    expect(openReport({ ...envelope, nonce: `${envelope.nonce}AA` })).toBeNull();
  });

  it('refuses garbage and non-canonical base64url', () => {
    const envelope = sealReport();
    expect(openReport({ ...envelope, ct: `${envelope.ct.slice(0, -2)}!!` })).toBeNull();
    expect(openReport({ ...envelope, ct: `${envelope.ct}==` })).toBeNull();
    expect(openReport({ ...envelope, ct: envelope.ct.replace(/-/g, '+').replace(/_/g, '/') + '+/' })).toBeNull();
    expect(openReport({ ...envelope, nonce: 'not base64url!!!' })).toBeNull();
    expect(openReport({ ...envelope, nonce: `${envelope.nonce.slice(0, 15)} ` })).toBeNull();
  });

  it('refuses a second spelling of the same ciphertext (non-zero trailing bits)', () => {
    const aad = reportAad(agentId, 1, 0, 0);
    const envelope = sealEnvelope(key, { kid: 1, ts: 0, seq: 0 }, aad, Buffer.from('x')); // 17 bytes: 23 chars, 2 spare bits
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(envelope.ct.slice(-1));
    const respelled = envelope.ct.slice(0, -1) + alphabet.charAt(last ^ 1);
    expect(Buffer.from(respelled, 'base64url')).toEqual(Buffer.from(envelope.ct, 'base64url'));
    expect(openEnvelope(key, envelope, aad)).not.toBeNull();
    expect(openEnvelope(key, { ...envelope, ct: respelled }, aad)).toBeNull();
  });

  it('never throws, whatever it is given', () => {
    const envelope = sealReport();
    const aad = reportAad(agentId, 1, fields.ts, fields.seq);
    const junk: unknown[] = [null, undefined, 42, 'envelope', [], {}, { ...envelope, ct: 12 }, { ...envelope, nonce: null }];
    for (const value of junk) expect(openEnvelope(key, value as SealedEnvelope, aad)).toBeNull();
    expect(openEnvelope(new Uint8Array(16), envelope, aad)).toBeNull();
    expect(openEnvelope(new Uint8Array(0), envelope, aad)).toBeNull();
  });
});

describe('isSealedEnvelope', () => {
  const good = (): Record<string, unknown> => ({ ...sealReport() });

  it('accepts a sealed envelope', () => {
    expect(isSealedEnvelope(good())).toBe(true);
  });

  it('rejects extra and missing keys', () => {
    expect(isSealedEnvelope({ ...good(), extra: 1 })).toBe(false);
    expect(isSealedEnvelope({ ...good(), agentId })).toBe(false);
    const { seq: _seq, ...missing } = good();
    expect(isSealedEnvelope(missing)).toBe(false);
  });

  it('rejects v other than 1', () => {
    expect(isSealedEnvelope({ ...good(), v: 2 })).toBe(false);
    expect(isSealedEnvelope({ ...good(), v: '1' })).toBe(false);
  });

  it('rejects floats, negatives, strings and out-of-range integers', () => {
    for (const [field, value] of [
      ['ts', 1.5], ['seq', 42.1], ['kid', 1.5], ['seq', -1], ['ts', -1], ['kid', 0], ['kid', -1],
      ['kid', 2 ** 31], ['seq', 2 ** 53], ['ts', Number.NaN], ['seq', Number.POSITIVE_INFINITY], ['seq', '42'], ['kid', null],
    ] as const) {
      expect(isSealedEnvelope({ ...good(), [field]: value }), `${field}=${String(value)}`).toBe(false);
    }
    expect(isSealedEnvelope({ ...good(), seq: 0, ts: 0 })).toBe(true);
  });

  it('rejects a bad nonce and a ct of the wrong size', () => {
    expect(isSealedEnvelope({ ...good(), nonce: toBase64url(randomBytes(11)) })).toBe(false);
    expect(isSealedEnvelope({ ...good(), nonce: `${toBase64url(randomBytes(12))}==` })).toBe(false);
    expect(isSealedEnvelope({ ...good(), ct: toBase64url(randomBytes(15)) })).toBe(false);
    expect(isSealedEnvelope({ ...good(), ct: 'A'.repeat(MAX_CT_CHARS + 4) })).toBe(false);
    expect(isSealedEnvelope({ ...good(), ct: 'A'.repeat(8 * 1024 * 1024) })).toBe(false);
    expect(isSealedEnvelope({ ...good(), ct: 'A'.repeat(MAX_CT_CHARS) })).toBe(true);
  });

  it('rejects non-objects', () => {
    for (const value of [null, undefined, 'x', 1, [], [good()]]) expect(isSealedEnvelope(value)).toBe(false);
  });
});

describe('sealing inputs', () => {
  it('derives one key per agent and kid, deterministically', () => {
    expect(Buffer.from(deriveAgentKey(master, agentId, 1))).toEqual(Buffer.from(key));
    expect(deriveAgentKey(master, agentId, 1)).toHaveLength(32);
    const keys = [deriveAgentKey(master, agentId, 1), deriveAgentKey(master, agentId, 2), deriveAgentKey(master, otherAgentId, 1)];
    expect(new Set(keys.map((k) => toBase64url(k))).size).toBe(3);
  });

  it('refuses a short master, a bad kid and a separator inside an AAD field', () => {
    expect(() => deriveAgentKey(randomBytes(16), agentId, 1)).toThrow(RangeError);
    expect(() => deriveAgentKey(master, agentId, 0)).toThrow(RangeError);
    expect(() => reportAad('a|1', 2, 3, 4)).toThrow(TypeError);
    expect(() => resultAad(agentId, 1, 2, 3, 'x|y')).toThrow(TypeError);
    expect(() => reportAad(agentId, 1, 1.5, 4)).toThrow(RangeError);
    expect(() => rekeyAad('', 2)).toThrow(TypeError);
  });

  it('builds the documented AAD strings', () => {
    const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');
    expect(text(reportAad(agentId, 3, 1000, 5))).toBe(`flotilla/report/v1|${agentId}|3|1000|5`);
    expect(text(resultAad(agentId, 3, 1000, 5, commandId))).toBe(`flotilla/result/v1|${agentId}|3|1000|5|${commandId}`);
    expect(text(rekeyAad(agentId, 4))).toBe(`flotilla/rekey/v1|${agentId}|4`);
  });

  it('refuses to seal what no receiver would accept', () => {
    const aad = reportAad(agentId, 1, 0, 0);
    expect(() => sealEnvelope(key, { kid: 1, ts: 0, seq: 0 }, aad, new Uint8Array(MAX_PLAINTEXT_BYTES + 1))).toThrow(RangeError);
    expect(() => sealEnvelope(key, { kid: 1, ts: 0, seq: 0 }, aad, plaintext, randomBytes(8))).toThrow(RangeError);
    expect(() => sealEnvelope(new Uint8Array(16), { kid: 1, ts: 0, seq: 0 }, aad, plaintext)).toThrow(RangeError);
    expect(() => sealEnvelope(key, { kid: 1, ts: -1, seq: 0 }, aad, plaintext)).toThrow(RangeError);
    const largest = sealEnvelope(key, { kid: 1, ts: 0, seq: 0 }, aad, new Uint8Array(MAX_PLAINTEXT_BYTES));
    expect(isSealedEnvelope(largest)).toBe(true);
    expect(openEnvelope(key, largest, aad)).toHaveLength(MAX_PLAINTEXT_BYTES);
  });
});

describe('strict base64url', () => {
  it('accepts only the canonical unpadded spelling', () => {
    expect(Buffer.from(fromBase64url('AQID') ?? [])).toEqual(Buffer.from([1, 2, 3]));
    expect(fromBase64url('')).toHaveLength(0);
    expect(fromBase64url('AQ')).toHaveLength(1);
    for (const bad of ['AQ==', 'AR', 'A', 'AQI D', 'AQ+/', 'AQ\n', 7, null]) expect(fromBase64url(bad), String(bad)).toBeNull();
  });
});

describe('rekey', () => {
  const oldKey = deriveAgentKey(master, agentId, 1);
  const newKey = deriveAgentKey(master, agentId, 2);

  it('round-trips the new key under the old one', () => {
    const rekey = sealRekey(oldKey, agentId, 2, newKey);
    expect(Object.keys(rekey).sort()).toEqual(['ct', 'kid', 'nonce']);
    expect(rekey.kid).toBe(2);
    expect(Buffer.from(openRekey(oldKey, agentId, rekey) ?? [])).toEqual(Buffer.from(newKey));
  });

  it('refuses another agent, another kid, another key and tampering', () => {
    const rekey = sealRekey(oldKey, agentId, 2, newKey);
    expect(openRekey(oldKey, otherAgentId, rekey)).toBeNull();
    expect(openRekey(oldKey, agentId, { ...rekey, kid: 3 })).toBeNull();
    expect(openRekey(newKey, agentId, rekey)).toBeNull();
    expect(openRekey(deriveAgentKey(master, otherAgentId, 1), agentId, rekey)).toBeNull();
    expect(openRekey(oldKey, agentId, { ...rekey, ct: flipBit(rekey.ct, -1) })).toBeNull();
    expect(openRekey(oldKey, agentId, { ...rekey, ct: flipBit(rekey.ct, 0) })).toBeNull();
  });

  it('refuses malformed rekeys without throwing', () => {
    const rekey = sealRekey(oldKey, agentId, 2, newKey);
    const junk: unknown[] = [null, {}, { ...rekey, extra: 1 }, { ...rekey, kid: 0 }, { ...rekey, kid: 2.5 }, { ...rekey, nonce: 'x' }, { ...rekey, ct: `${rekey.ct}AAAA` }];
    for (const value of junk) expect(openRekey(oldKey, agentId, value as typeof rekey)).toBeNull();
    expect(() => sealRekey(oldKey, agentId, 2, new Uint8Array(16))).toThrow(RangeError);
  });
});

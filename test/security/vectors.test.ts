/**
 * docs/protocol.md promises that its test vectors are what this code produces
 * (docs/protocol.md): both halves are checked here, the code
 * against test/vectors/protocol.json and the document against the same file.
 */
import { readFileSync } from 'node:fs';
import canonicalizeModule from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { fromBase64url, toBase64url } from '../../src/protocol/base64url.js';
import {
  deriveAgentKey,
  openEnvelope,
  openRekey,
  rekeyAad,
  reportAad,
  resultAad,
  sealEnvelope,
  sealRekey,
  type SealedEnvelope,
  type SealedRekey,
} from '../../src/protocol/sealing.js';
import { canonicalCommand, commandSignerFromSeed, verifyCommand, type CommandPayload } from '../../src/protocol/signing.js';

const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

interface SealVector {
  name: string; master: string; agentId: string; kid: number; ts: number; seq: number; nonce: string;
  commandId?: string; report: unknown; key: string; aad: string; body: SealedEnvelope;
}
interface RekeyVector {
  name: string; master: string; agentId: string; kid: number; newKid: number; nonce: string;
  key: string; newKey: string; aad: string; rekey: SealedRekey;
}
interface CommandVector { name: string; seed: string; command: CommandPayload; publicKey: string; canonical: string; sig: string }
type Vector = SealVector | RekeyVector | CommandVector;

const vectors = JSON.parse(readFileSync(new URL('../vectors/protocol.json', import.meta.url), 'utf8')) as Vector[];
const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

function bytes(text: string): Uint8Array {
  const decoded = fromBase64url(text);
  if (!decoded) throw new Error(`vector holds invalid base64url: ${text}`);
  return decoded;
}

const utf8 = (value: Uint8Array): string => Buffer.from(value).toString('utf8');

describe('protocol test vectors', () => {
  it('cover a report, a batch, a command result, a rekey and a signed command', () => {
    expect(vectors.map((v) => v.name)).toEqual(['report', 'batch', 'command-result', 'rekey', 'signed-command']);
    const reports = (v: Vector) => ((v as SealVector).report as { reports?: unknown[] }).reports?.length;
    expect(reports(vectors[0] as Vector)).toBe(1);
    expect(reports(vectors[1] as Vector)).toBeGreaterThan(1);
    expect((vectors[2] as SealVector).commandId).toBeTypeOf('string');
  });

  for (const vector of vectors) {
    if ('seed' in vector) {
      it(`${vector.name}: signs and verifies exactly`, () => {
        const signer = commandSignerFromSeed(bytes(vector.seed));
        expect(signer.publicKeyRaw).toBe(vector.publicKey);
        expect(canonicalCommand(vector.command)).toBe(vector.canonical);
        expect(signer.sign(vector.command)).toEqual({ ...vector.command, sig: vector.sig });
        expect(verifyCommand(vector.publicKey, { ...vector.command, sig: vector.sig })).toBe(true);
      });
    } else if ('newKid' in vector) {
      it(`${vector.name}: seals the new key exactly`, () => {
        const master = bytes(vector.master);
        const key = deriveAgentKey(master, vector.agentId, vector.kid);
        const newKey = deriveAgentKey(master, vector.agentId, vector.newKid);
        expect(toBase64url(key)).toBe(vector.key);
        expect(toBase64url(newKey)).toBe(vector.newKey);
        expect(utf8(rekeyAad(vector.agentId, vector.newKid))).toBe(vector.aad);
        expect(sealRekey(key, vector.agentId, vector.newKid, newKey, bytes(vector.nonce))).toEqual(vector.rekey);
        expect(toBase64url(openRekey(key, vector.agentId, vector.rekey) ?? new Uint8Array())).toBe(vector.newKey);
      });
    } else {
      it(`${vector.name}: derives, seals and opens exactly`, () => {
        const key = deriveAgentKey(bytes(vector.master), vector.agentId, vector.kid);
        expect(toBase64url(key)).toBe(vector.key);
        const aad = vector.commandId === undefined
          ? reportAad(vector.agentId, vector.kid, vector.ts, vector.seq)
          : resultAad(vector.agentId, vector.kid, vector.ts, vector.seq, vector.commandId);
        expect(utf8(aad)).toBe(vector.aad);
        const plaintext = Buffer.from(canonicalize(vector.report) ?? '', 'utf8');
        const fields = { kid: vector.kid, ts: vector.ts, seq: vector.seq };
        expect(sealEnvelope(key, fields, aad, plaintext, bytes(vector.nonce))).toEqual(vector.body);
        const opened = openEnvelope(key, vector.body, aad);
        expect(opened && (JSON.parse(utf8(opened)) as unknown)).toEqual(vector.report);
      });
    }
  }

  it('appear in docs/protocol.md, entry by entry, as fenced JSON blocks', () => {
    const section = doc.slice(doc.indexOf('\n## Test vectors'));
    expect(section.length).toBeLessThan(doc.length);
    const blocks = [...section.matchAll(/^```json\n([\s\S]*?)\n```$/gm)].map((match) => JSON.parse(match[1] ?? '') as unknown);
    expect(blocks).toHaveLength(vectors.length);
    blocks.forEach((block, i) => expect(block, `vector ${i}`).toEqual(vectors[i]));
  });
});

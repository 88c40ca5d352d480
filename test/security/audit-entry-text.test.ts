import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { appendEntries } from '../../src/security/audit/chain.js';
import { chainHash, GENESIS_HASH, hashedColumns, type UnhashedEntry } from '../../src/security/audit/entry.js';
import { canonicalEntryText, isCanonicalText, spliceSafe } from '../../src/security/audit/entry-text.js';
import { verifyChain } from '../../src/security/audit/verify.js';
import { canonicalJson } from '../../src/protocol/canonical.js';
import { prepareEntry } from '../../src/security/recorder.js';
import { sqlBackends } from '../harness/backends.js';
import { auditFixture, sampleRecord } from './helpers.js';

/** The definition: canonicalize() over the entry without its hash, before/after as JSON values. */
function reference(e: UnhashedEntry): string {
  const { seq, ts, actorType, actorId, actorIp, action, resourceType, resourceId, before, after, success, error, prevHash } = e;
  return canonicalJson({ seq, ts, actorType, actorId, actorIp, action, resourceType, resourceId, before, after, success, error, prevHash });
}

const referenceHash = (key: Uint8Array, e: UnhashedEntry): string => createHmac('sha256', key).update(e.prevHash + reference(e)).digest('hex');

/** Deterministic pseudo-random choices (SHA-256 of a counter), so a failure reproduces. */
function chooser(seed: string) {
  let n = 0;
  let pool = Buffer.alloc(0);
  const byte = (): number => {
    if (pool.length === 0) pool = createHash('sha256').update(`${seed}/${n++}`).digest();
    const b = pool[0] as number;
    pool = pool.subarray(1);
    return b;
  };
  const int = (below: number): number => ((byte() << 16) | (byte() << 8) | byte()) % below;
  return { int, pick: <T>(items: readonly T[]): T => items[int(items.length)] as T };
}
type Chooser = ReturnType<typeof chooser>;

// Quotes, escapes, every control character, DEL, non-ASCII, line separators, a BOM, astral pairs, combining marks.
const PIECES = ['a', 'Z', '0', ' ', '"', '\\', '/', "'", '\u007f', '\u0080', 'é', 'e\u0301', 'İ', '\u2028', '\u2029', '\ufeff', '\uffff', '😀', '𝄞', '中文',
  ...Array.from({ length: 32 }, (_, c) => String.fromCharCode(c))];
const NUMBERS = [0, -0, 1, -1, 42, 1767225600000, 2 ** 53 - 1, 2 ** 53 + 2, -(2 ** 60), 1e21, 1e-7, 1.5, -3.25e-5, 5e-324, 1.7976931348623157e308, 0.1 + 0.2];

function oddString(c: Chooser, opts: { nul?: boolean } = {}): string {
  let out = '';
  for (let i = c.int(12); i > 0; i--) {
    const piece = c.pick(PIECES);
    if (piece !== '\u0000' || opts.nul === true) out += piece;
  }
  return out;
}

function oddValue(c: Chooser, depth: number): unknown {
  switch (c.int(depth >= 3 ? 4 : 6)) {
    case 0: return oddString(c, { nul: true });
    case 1: return c.pick(NUMBERS);
    case 2: return c.pick([true, false, null]);
    case 3: return c.pick(['', 'before', ',"before":', '{"a":1}']);
    case 4: return Array.from({ length: c.int(4) }, () => oddValue(c, depth + 1));
    default: return oddObject(c, depth + 1);
  }
}

function oddObject(c: Chooser, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = c.int(5); i > 0; i--) out[c.pick([oddString(c, { nul: true }), 'before', 'after', 'error', '10', '9', 'a', 'B'])] = oddValue(c, depth);
  return out;
}

const orNull = <T>(c: Chooser, value: T): T | null => (c.int(3) === 0 ? null : value);

/** An entry with odd values everywhere it may hold them; NUL stays inside before/after (escaped) unless asked for, as PostgreSQL text refuses it. */
function oddEntry(c: Chooser, seq: number, prevHash: string, opts: { nul?: boolean } = {}): UnhashedEntry {
  const s = () => oddString(c, opts);
  return {
    seq,
    ts: c.pick([0, 1, 1767225600000, 2 ** 53 - 1]),
    actorType: c.pick(['user', 'agent', 'system', 'anonymous', s()]),
    actorId: orNull(c, s()),
    actorIp: orNull(c, c.pick(['198.51.100.7', '2001:db8::1', s()])),
    action: c.pick(['user_updated', 'login_failed', s()]),
    resourceType: orNull(c, s()),
    resourceId: orNull(c, s()),
    before: orNull(c, oddObject(c, 0)),
    after: orNull(c, c.int(4) === 0 ? oddValue(c, 0) : oddObject(c, 0)),
    success: c.int(2) === 0,
    error: orNull(c, s()),
    prevHash,
  };
}

describe('canonical entry text', () => {
  const key = Buffer.from('flotilla audit chain test key 32', 'utf8');

  it('equals canonicalize() of the entry over the sample corpus', () => {
    for (let i = 1; i <= 200; i++) {
      const entry = { ...prepareEntry(sampleRecord(i), 1767225600000 + i), seq: i, prevHash: i === 1 ? GENESIS_HASH : 'f'.repeat(64) };
      expect(canonicalEntryText(hashedColumns(entry))).toBe(reference(entry));
    }
  });

  it('equals canonicalize() for odd values: unicode, quotes, control characters, big and odd numbers, nulls, keys that look like ours', () => {
    const c = chooser('entry-text');
    for (let i = 1; i <= 3000; i++) {
      const entry = oddEntry(c, i, c.pick([GENESIS_HASH, 'ab'.repeat(32), oddString(c)]), { nul: true });
      const text = canonicalEntryText(hashedColumns(entry));
      expect(text).toBe(reference(entry));
      expect(chainHash(key, entry)).toBe(referenceHash(key, entry));
    }
  });

  it('keeps the hashes that entries written before it got (pinned)', () => {
    const plain: UnhashedEntry = {
      seq: 1, ts: 1767225600000, actorType: 'user', actorId: 'user-1', actorIp: '198.51.100.1', action: 'user_updated', resourceType: 'user', resourceId: 'user-1',
      before: { role: 'viewer', status: 'active' }, after: { role: 'operator', status: 'active' }, success: true, error: null, prevHash: GENESIS_HASH,
    };
    const odd: UnhashedEntry = {
      seq: 42, ts: 1767225600123, actorType: 'anonymous', actorId: null, actorIp: '2001:db8::1', action: 'login_failed', resourceType: null, resourceId: null,
      before: null,
      after: { note: 'quote " backslash \\ tab \t nul \u0000 del \u007f ls \u2028 é 😀', count: 2 ** 53, tags: ['b', 'a', 1e21, 1.5e-7, -0], nested: { z: true, é: null, a: [] } },
      success: false, error: 'bad_credentials\n"x"', prevHash: 'ab'.repeat(32),
    };
    // Computed by the implementation that canonicalized the whole entry object.
    expect(chainHash(key, plain)).toBe('4e2684fe1d8f5a26727d434542ee607a386ca97c428b0364300944a22bf21f4c');
    expect(chainHash(key, odd)).toBe('e9348473f316990b7cea2057a9d1ae4f4e4cee6305a75b3e4cf55ae317b88133');
  });

  it('hashes a lone surrogate as the U+FFFD that storage keeps in its place, and escapes one inside before/after', () => {
    const entry: UnhashedEntry = { ...prepareEntry(sampleRecord(1), 0), seq: 1, prevHash: GENESIS_HASH, actorId: 'a\ud800b', after: { note: 'x\udc00' } };
    const columns = hashedColumns(entry);
    expect(columns.actorId).toBe('a\ufffdb');
    expect(columns.after).toBe('{"note":"x\\udc00"}');
    expect(canonicalEntryText(columns)).toBe(reference({ ...entry, actorId: 'a\ufffdb' }));
  });

  it('refuses what no stored row holds: a success flag other than 0/1, a number that is not finite', () => {
    const columns = hashedColumns({ ...prepareEntry(sampleRecord(1), 0), seq: 1, prevHash: GENESIS_HASH });
    expect(() => canonicalEntryText({ ...columns, success: 2 })).toThrow(TypeError);
    expect(() => canonicalEntryText({ ...columns, ts: Number.NaN })).toThrow(TypeError);
    expect(() => canonicalEntryText({ ...columns, seq: Number.POSITIVE_INFINITY })).toThrow(TypeError);
  });

  it('splices before/after unchecked only when no text holds the key that could move their border', () => {
    expect(spliceSafe('{"role":"viewer"}', null)).toBe(true);
    expect(spliceSafe(null, '{"a":{"before":1}}')).toBe(true); // first key of its object: no comma before it
    expect(spliceSafe('{"a":1,"before":2}', null)).toBe(false);
    expect(spliceSafe(null, '{"a":1,"before":2}')).toBe(false);
    // Why: these two stored pairs make the same entry text.
    const columns = hashedColumns({ ...prepareEntry(sampleRecord(1), 0), seq: 1, prevHash: GENESIS_HASH, before: null, after: { a: 1, before: { b: 2 } } });
    const moved = { ...columns, after: '{"a":1', before: '{"b":2}},"before":null' };
    expect(canonicalEntryText(moved)).toBe(canonicalEntryText(columns));
    expect(spliceSafe(moved.before, moved.after)).toBe(false);
    expect(isCanonicalText(moved.before) && isCanonicalText(moved.after)).toBe(false);
  });
});

for (const backend of sqlBackends()) {
  describe.skipIf(!backend.available)(`canonical entry text through storage (${backend.name})`, () => {
    it('appends entries with odd values that read back and verify', async () => {
      const store = await backend.create();
      try {
        const f = auditFixture(store);
        const c = chooser(`storage-${backend.name}`);
        const pending = Array.from({ length: 300 }, () => {
          const { seq: _s, prevHash: _p, ...rest } = oddEntry(c, 0, '');
          return { ...rest, actorId: c.int(4) === 0 ? 'lone \ud800 surrogate' : rest.actorId };
        });
        const written = await appendEntries(store, f.keys.hmacKey, pending, 0);
        expect(written).toHaveLength(300);
        await f.audit.adoptHead(); // written past the service: start its head as a server would
        const result = await f.audit.verify();
        expect(result).toMatchObject({ ok: true, count: 300, broken: null });
        const checkpoints = await f.audit.checkpoints.load();
        const head = await f.audit.headStore.read();
        expect(await verifyChain({ db: store.db, keys: f.keys, checkpoints, head, batchSize: 7 })).toEqual(result); // hashed on the worker thread
        // Both ways of checking before/after ran: spliced as stored, and the full canonical check.
        const rows = await store.db.selectFrom('auditLog').select(['before', 'after']).execute();
        const spliced = rows.filter((r) => spliceSafe(r.before, r.after)).length;
        expect(spliced).toBeGreaterThan(0);
        expect(spliced).toBeLessThan(300);
      } finally {
        await store.close();
      }
    });
  });
}

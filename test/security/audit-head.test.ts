import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendEntries } from '../../src/security/audit/chain.js';
import { signMark } from '../../src/security/audit/checkpoints.js';
import { chainHash, fromRow } from '../../src/security/audit/entry.js';
import { headPathOf } from '../../src/security/audit/head-file.js';
import { KvHeadStore } from '../../src/security/audit/head-kv.js';
import type { HeadStore } from '../../src/security/audit/head.js';
import { deriveAuditKeys, type AuditKeys } from '../../src/security/audit/keys.js';
import { prepareEntry } from '../../src/security/recorder.js';
import type { Kv } from '../../src/store/kv/kv.js';
import type { SqlStore } from '../../src/store/sql/db.js';
import { kvBackends, sqlBackends } from '../harness/backends.js';
import { auditFixture, sampleRecord, type AuditFixture } from './helpers.js';

const DAY = 86_400_000;
const N = 30;

/** Where the head lives: the file of one host (the fixture's default), or the Redis every node shares. */
interface HeadBackend {
  name: string;
  available: boolean;
  open(): Promise<{ head?: (keys: AuditKeys) => HeadStore; remove(store: HeadStore): Promise<void>; close(): Promise<void> }>;
}

const redis = kvBackends().find((b) => b.name === 'redis');
const headBackends: HeadBackend[] = [
  { name: 'file', available: true, open: async () => ({ remove: async (store) => rmSync(store.location), close: async () => undefined }) },
  {
    name: 'redis',
    available: redis?.available ?? false,
    open: async () => {
      const kv: Kv = await (redis as NonNullable<typeof redis>).create();
      return { head: (keys) => new KvHeadStore(kv, keys), remove: () => kv.del('audit:head'), close: () => kv.close() };
    },
  },
];

for (const backend of sqlBackends()) {
  for (const headBackend of headBackends) {
    // Redis heads belong to cluster mode, which runs on PostgreSQL.
    if (headBackend.name === 'redis' && backend.name === 'sqlite') continue;
    describe.skipIf(!backend.available || !headBackend.available)(`audit signed head (${backend.name}, ${headBackend.name})`, () => {
      let store: SqlStore;
      let f: AuditFixture;
      let closeHead: () => Promise<void>;
      let removeHead: () => Promise<void>;

      beforeEach(async () => {
        store = await backend.create();
        const opened = await headBackend.open();
        closeHead = opened.close;
        removeHead = () => opened.remove(f.audit.headStore);
        f = auditFixture(store, { retentionDays: 90, head: opened.head });
      });
      afterEach(async () => {
        await store.close();
        await closeHead();
        rmSync(f.dir, { recursive: true, force: true });
      });

      const deleteNewest = (n: number) => store.db.deleteFrom('auditLog').where('seq', '>', N - n).execute();


      it('advances with every append batch and verifies a normal run', async () => {
        await f.add(N);
        const verified = await f.audit.verify();
        expect(verified).toMatchObject({ ok: true, count: N, lastSeq: N, signedHeadSeq: N, broken: null, message: null });
        const head = await f.audit.headStore.read();
        expect(head).toMatchObject({ state: 'valid', mark: { kind: 'head', seq: N, hash: verified.head } });
        expect(f.headFailures).toEqual([]);
      });

      it('deleting the newest entry fails verification: entries after seq N-1 are missing', async () => {
        await f.add(N);
        await deleteNewest(1);
        const verified = await f.audit.verify();
        expect(verified).toMatchObject({ ok: false, broken: { seq: N, reason: 'truncated' } });
        expect(verified.message).toBe(`entries after seq ${N - 1} are missing: the signed head is at seq ${N}`);
      });

      it('deleting the newest 10 fails verification, and later appends do not paper over it', async () => {
        await f.add(N);
        await deleteNewest(10);
        expect((await f.audit.verify()).message).toMatch(new RegExp(`^entries after seq ${N - 10} are missing`));
        // The next appends reuse seqs N-9..; the head stays where it was, so the loss still shows.
        await f.add(15);
        const verified = await f.audit.verify();
        expect(verified).toMatchObject({ ok: false, broken: { seq: N, reason: 'head_mismatch' }, signedHeadSeq: N });
        expect(String(f.headFailures[0])).toMatch(/the audit head was not advanced/);
      });

      it('deleting the newest entries and re-chaining them with the chain key fails verification', async () => {
        await f.add(N);
        await deleteNewest(5);
        // Forged entries linked from entry N-5 with the HMAC key: a consistent chain, longer than the original.
        const forged = Array.from({ length: 8 }, (_, i) => ({ ...prepareEntry(sampleRecord(900 + i), f.clock.nowMs()) }));
        await appendEntries(store, f.keys.hmacKey, forged, f.clock.nowMs());
        expect(await f.audit.verify()).toMatchObject({ ok: false, broken: { seq: N, reason: 'head_mismatch' } });
      });

      it('a head behind the database (crash after commit, before the head write) verifies, and the next append catches up', async () => {
        await f.add(N);
        // Committed past the writer, as if the process died before advancing the head.
        await appendEntries(store, f.keys.hmacKey, [prepareEntry(sampleRecord(100), f.clock.nowMs())], f.clock.nowMs());
        expect(await f.audit.verify()).toMatchObject({ ok: true, count: N + 1, lastSeq: N + 1, signedHeadSeq: N });
        await f.add(2);
        expect(await f.audit.verify()).toMatchObject({ ok: true, lastSeq: N + 3, signedHeadSeq: N + 3 });
        expect(f.headFailures).toEqual([]);
      });

      it('a lagging writer never moves the head back', async () => {
        await f.add(N);
        const stale = signMark(f.keys, { kind: 'head', seq: 3, hash: 'a'.repeat(64), ts: f.clock.nowMs() });
        expect(await f.audit.headStore.advance(stale)).toBe(false);
        expect(await f.audit.headStore.read()).toMatchObject({ state: 'valid', mark: { seq: N } });
      });

      it('retention still verifies, also when it removed the entry the head names', async () => {
        await f.add(10);
        f.clock.advance(50 * DAY);
        await f.add(5);
        f.clock.advance(45 * DAY);
        expect((await f.audit.applyRetention()).removed).toBe(10);
        expect(await f.audit.verify()).toMatchObject({ ok: true, firstSeq: 11, lastSeq: 15, signedHeadSeq: 15 });
        f.clock.advance(100 * DAY);
        expect((await f.audit.applyRetention()).removed).toBe(5);
        expect(await f.audit.verify()).toMatchObject({ ok: true, count: 0, signedHeadSeq: 15 });
        await f.add(2);
        expect(await f.audit.verify()).toMatchObject({ ok: true, firstSeq: 16, lastSeq: 17, signedHeadSeq: 17 });
        expect(f.headFailures).toEqual([]);
      });

      it('refuses a head signed with another key', async () => {
        await f.add(3);
        const forged = signMark(deriveAuditKeys(randomBytes(32).toString('base64url')), { kind: 'head', seq: 99, hash: 'b'.repeat(64), ts: 0 });
        await f.audit.headStore.advance(forged);
        expect(await f.audit.verify()).toMatchObject({ ok: false, broken: { seq: 0, reason: 'head_invalid' } });
      });

      it('a removed head fails verification; appends do not start a new one over the chain, a server start does', async () => {
        await f.add(N);
        await removeHead();
        expect(await f.audit.verify()).toMatchObject({ ok: false, broken: { seq: 0, reason: 'head_missing' } });
        await f.add(1);
        expect((await f.audit.verify()).broken?.reason).toBe('head_missing');
        expect(String(f.headFailures[0])).toMatch(/no signed audit head/);
        expect(f.headFailures).toHaveLength(1);
        expect(await f.audit.adoptHead()).toEqual({ started: true, seq: N + 1 });
        expect(await f.audit.verify()).toMatchObject({ ok: true, signedHeadSeq: N + 1 });
      });
    });
  }
}

describe('audit head file', () => {
  it('is a signed head mark in a 0600 file beside the checkpoints, replaced whole', async () => {
    const sqlite = sqlBackends()[0] as NonNullable<ReturnType<typeof sqlBackends>[0]>;
    const store = await sqlite.create();
    const f = auditFixture(store);
    try {
      await f.add(4);
      const path = headPathOf(f.checkpointPath);
      expect(path).toMatch(/audit-checkpoints\.head\.json$/);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const mark = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
      expect(mark).toEqual({ kind: 'head', seq: 4, hash: expect.stringMatching(/^[0-9a-f]{64}$/), ts: f.clock.nowMs(), sig: expect.stringMatching(/^[A-Za-z0-9_-]{86}$/) });
      // An edited seq breaks the signature: the head cannot be moved back by hand.
      writeFileSync(path, JSON.stringify({ ...mark, seq: 2 }));
      expect((await f.audit.verify()).broken).toEqual({ seq: 0, reason: 'head_invalid' });
      // A rewritten entry re-hashed at the head's seq shows against it too.
      writeFileSync(path, JSON.stringify(mark));
      const row = await store.db.selectFrom('auditLog').selectAll().where('seq', '=', 4).executeTakeFirstOrThrow();
      const entry = fromRow(row);
      if (!entry) throw new Error('unreadable');
      const { hash: _h, ...unhashed } = { ...entry, actorIp: '192.0.2.9' };
      await store.db.updateTable('auditLog').set({ actorIp: '192.0.2.9', hash: chainHash(f.keys.hmacKey, unhashed) }).where('seq', '=', 4).execute();
      expect((await f.audit.verify()).broken).toEqual({ seq: 4, reason: 'head_mismatch' });
    } finally {
      await store.close();
      rmSync(f.dir, { recursive: true, force: true });
    }
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { canonicalJson } from '../../src/protocol/canonical.js';
import { appendEntries } from '../../src/security/audit/chain.js';
import { chainRows, type RawChainRow } from '../../src/security/audit/chain-rows.js';
import { chainHash, fromRow, GENESIS_HASH } from '../../src/security/audit/entry.js';
import { verifyChain, type VerifyResult } from '../../src/security/audit/verify.js';
import { prepareEntry } from '../../src/security/recorder.js';
import { sqliteHandle, type SqlStore } from '../../src/store/sql/db.js';
import { sqlBackends } from '../harness/backends.js';
import { auditFixture, sampleRecord, type AuditFixture } from './helpers.js';

const N = 12;

const seqs = (batch: IteratorResult<RawChainRow[], void>) => (batch.done ? [] : batch.value.map((row) => row.seq));

for (const backend of sqlBackends()) {
  describe.skipIf(!backend.available)(`audit chain (${backend.name})`, () => {
    let store: SqlStore;
    let f: AuditFixture;

    beforeEach(async () => {
      store = await backend.create();
      f = auditFixture(store);
    });
    afterEach(async () => {
      await store.close();
    });

    const row = (seq: number) => store.db.selectFrom('auditLog').selectAll().where('seq', '=', seq).executeTakeFirstOrThrow();

    it('links every entry to the one before with an HMAC over its canonical JSON', async () => {
      await f.add(N);
      const result = await f.audit.verify();
      expect(result).toMatchObject({ ok: true, count: N, firstSeq: 1, lastSeq: N, broken: null });
      const first = await row(1);
      expect(first.prevHash).toBe(GENESIS_HASH);
      const last = await row(N);
      expect(result.head).toBe(last.hash);
      // hash = HMAC(auditKey, prevHash ‖ canonical(entry without hash)), recomputed by hand.
      const { createHmac } = await import('node:crypto');
      const entry = fromRow(last);
      if (!entry) throw new Error('unreadable');
      const { hash: _hash, ...unhashed } = entry;
      expect(createHmac('sha256', f.keys.hmacKey).update(last.prevHash + canonicalJson(unhashed)).digest('hex')).toBe(last.hash);
      expect((await row(N - 1)).hash).toBe(last.prevHash);
    });

    it('stores before/after as canonical JSON text that reads back byte for byte', async () => {
      await f.add([{ action: 'user_updated', actorId: 'u', before: { status: 'active', role: 'viewer' }, after: { role: 'admin', status: 'active' } }]);
      const stored = await row(1);
      expect(stored.before).toBe('{"role":"viewer","status":"active"}');
      expect(stored.after).toBe('{"role":"admin","status":"active"}');
      const type = await (backend.name === 'postgres'
        ? sql<{ t: string }>`select data_type as t from information_schema.columns where table_name = 'audit_log' and column_name = 'before'`.execute(store.db)
        : sql<{ t: string }>`select type as t from pragma_table_info('audit_log') where name = 'before'`.execute(store.db));
      expect(type.rows[0]?.t.toLowerCase()).toBe('text');
    });

    it('keeps secrets and hashes out of before/after (whitelist)', async () => {
      await f.add([
        {
          action: 'user_created',
          actorId: 'admin-1',
          after: { id: 'u1', username: 'bob', role: 'viewer', password: 'Hunter-2-Hunter-2', passwordHash: '$argon2id$…', secret: 's', tokenHash: 'abc', apiKey: 'fla_x', salt: 'x', mfaSecret: 'JBSWY3DP', nested: { password: 'p' } },
        },
      ]);
      const stored = await row(1);
      expect(JSON.parse(stored.after ?? 'null')).toEqual({ id: 'u1', username: 'bob', role: 'viewer' });
      expect(stored.after).not.toMatch(/Hunter|argon|JBSW|fla_/);
    });

    it('serializes concurrent appends into one unbroken chain', async () => {
      await Promise.all(Array.from({ length: 5 }, () => f.add(60)));
      const result = await f.audit.verify();
      expect(result).toMatchObject({ ok: true, count: 300, lastSeq: 300 });
      expect(f.failures).toEqual([]);
    });

    it('reads the rows verification hashes as the store holds them (raw arrays on SQLite)', async () => {
      await f.add(N);
      expect(sqliteHandle(store.db) !== undefined).toBe(backend.name === 'sqlite');
      const read = [];
      for await (const batch of chainRows(store.db, 5)) read.push(...batch);
      const columns = ['seq', 'ts', 'actorType', 'actorId', 'actorIp', 'action', 'resourceType', 'resourceId', 'before', 'after', 'success', 'error', 'prevHash', 'hash'] as const;
      expect(read).toEqual(await store.db.selectFrom('auditLog').select(columns).orderBy('seq').execute());
    });

    it('reads only committed entries, also through the connection SQLite shares', async () => {
      await f.add(N);
      const batches = chainRows(store.db, 5);
      expect(seqs(await batches.next())).toEqual([1, 2, 3, 4, 5]);
      let opened!: () => void;
      let release!: () => void;
      const inside = new Promise<void>((resolve) => (opened = resolve));
      const gate = new Promise<void>((resolve) => (release = resolve));
      const tx = store.db.connection().execute(async (conn) => {
        await sql`begin`.execute(conn);
        await conn.deleteFrom('auditLog').where('seq', '=', 6).execute();
        opened();
        await gate;
        await sql`rollback`.execute(conn);
      });
      await inside;
      const next = batches.next();
      release();
      await tx;
      expect(seqs(await next)).toEqual([6, 7, 8, 9, 10]);
    });

    it('verifies an entry whose before/after holds a key "before", and refuses the same text split another way', async () => {
      await f.add(2);
      const odd = { ...prepareEntry(sampleRecord(3), f.clock.nowMs()), before: null, after: { a: 1, before: { b: 2 } } };
      await appendEntries(store, f.keys.hmacKey, [odd], f.clock.nowMs());
      await f.add(2);
      expect(await f.audit.verify()).toMatchObject({ ok: true, count: 5 });
      // after + ',"before":' + before reads the same, so the HMAC still matches: only the canonical check can refuse it.
      await store.db.updateTable('auditLog').set({ after: '{"a":1', before: '{"b":2}},"before":null' }).where('seq', '=', 3).execute();
      expect((await f.audit.verify()).broken).toEqual({ seq: 3, reason: 'unreadable' });
    });

    describe('names the first entry that breaks', () => {
      beforeEach(async () => {
        await f.add(N);
      });

      /** The service's verification, and the same in batches of 3: breaks across batch borders, hashed on the worker thread. */
      async function verified(): Promise<VerifyResult> {
        const whole = await f.audit.verify();
        const checkpoints = await f.audit.checkpoints.load();
        const head = await f.audit.headStore.read();
        expect(await verifyChain({ db: store.db, keys: f.keys, checkpoints, head, batchSize: 3 })).toEqual(whole);
        return whole;
      }

      it('a modified entry: hash mismatch at that entry', async () => {
        await store.db.updateTable('auditLog').set({ action: 'user_created' }).where('seq', '=', 5).execute();
        expect((await verified()).broken).toEqual({ seq: 5, reason: 'hash_mismatch' });
      });

      it('a modified before/after or success flag', async () => {
        await store.db.updateTable('auditLog').set({ after: '{"role":"admin","status":"active"}' }).where('seq', '=', 7).execute();
        expect((await verified()).broken).toEqual({ seq: 7, reason: 'hash_mismatch' });
        await store.db.updateTable('auditLog').set({ success: 2 }).where('seq', '=', 3).execute();
        expect((await verified()).broken).toEqual({ seq: 3, reason: 'unreadable' });
      });

      it('a modified entry far into the chain, past the first batch', async () => {
        await f.add(40);
        await store.db.updateTable('auditLog').set({ actorIp: '192.0.2.66' }).where('seq', '=', 47).execute();
        expect(await verified()).toMatchObject({ count: 46, lastSeq: 46, broken: { seq: 47, reason: 'hash_mismatch' } });
      });

      it('a deleted entry: the gap at its seq', async () => {
        await store.db.deleteFrom('auditLog').where('seq', '=', 6).execute();
        expect((await verified()).broken).toEqual({ seq: 6, reason: 'sequence_gap' });
      });

      it('deleted first entries without a signed anchor', async () => {
        await store.db.deleteFrom('auditLog').where('seq', '<=', 2).execute();
        expect((await verified()).broken).toEqual({ seq: 3, reason: 'missing_anchor' });
      });

      it('an inserted entry (later ones renumbered): at the inserted seq', async () => {
        await store.db.updateTable('auditLog').set((eb) => ({ seq: eb('seq', '+', 1000) })).where('seq', '>=', 4).execute();
        await store.db.updateTable('auditLog').set((eb) => ({ seq: eb('seq', '-', 999) })).where('seq', '>=', 1000).execute();
        const copy = await row(3);
        await store.db.insertInto('auditLog').values({ ...copy, seq: 4, action: 'user_deleted' }).execute();
        expect((await verified()).broken).toEqual({ seq: 4, reason: 'hash_mismatch' });
      });

      it('an appended forgery with a copied hash: at its seq', async () => {
        const copy = await row(N);
        await store.db.insertInto('auditLog').values({ ...copy, seq: N + 1, prevHash: copy.hash }).execute();
        expect((await verified()).broken).toEqual({ seq: N + 1, reason: 'hash_mismatch' });
      });

      it('two entries swapped: at the first of them', async () => {
        const [a, b] = [await row(3), await row(4)];
        const { seq: _a, ...restA } = a;
        const { seq: _b, ...restB } = b;
        await store.db.updateTable('auditLog').set(restB).where('seq', '=', 3).execute();
        await store.db.updateTable('auditLog').set(restA).where('seq', '=', 4).execute();
        expect((await verified()).broken).toEqual({ seq: 3, reason: 'hash_mismatch' });
      });

      it('an entry rewritten with the key and re-hashed: the link of the next one breaks', async () => {
        const entry = fromRow(await row(5));
        if (!entry) throw new Error('unreadable');
        const forged = { ...entry, after: { role: 'admin', status: 'active' } };
        const { hash: _h, ...unhashed } = forged;
        await store.db.updateTable('auditLog').set({ after: canonicalJson(forged.after), hash: chainHash(f.keys.hmacKey, unhashed) }).where('seq', '=', 5).execute();
        expect((await verified()).broken).toEqual({ seq: 6, reason: 'link_broken' });
      });

      it('non-canonical JSON text', async () => {
        await store.db.updateTable('auditLog').set({ before: '{ "role": "viewer", "status": "active" }' }).where('seq', '=', 2).execute();
        expect((await verified()).broken).toEqual({ seq: 2, reason: 'unreadable' });
      });

      // Only SQLite lets a text column hold another type, so only there is this a case.
      if (backend.name === 'sqlite') {
        it('a column holding a type we never write (a blob of the same bytes)', async () => {
          await sql`update audit_log set after = cast(after as blob) where seq = 4`.execute(store.db);
          expect((await verified()).broken).toEqual({ seq: 4, reason: 'unreadable' });
        });
      }
    });
  });
}

it('an append that fails is reported to the caller-supplied handler and never throws at the caller', async () => {
  const sqlite = sqlBackends().find((b) => b.name === 'sqlite');
  const store = await (sqlite as NonNullable<typeof sqlite>).create({ migrate: false });
  try {
    const f = auditFixture(store);
    await expect(f.add(3)).resolves.toBeUndefined();
    expect(f.failures.length).toBeGreaterThan(0);
  } finally {
    await store.close();
  }
});

it('refuses an action name that is not a plain identifier', () => {
  expect(() => prepareEntry({ action: 'login failed\nevent=x' }, 0)).toThrow(/not an action name/);
});

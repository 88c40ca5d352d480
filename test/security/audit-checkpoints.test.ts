import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chainHash, fromRow, GENESIS_HASH } from '../../src/security/audit/entry.js';
import type { SqlStore } from '../../src/store/sql/db.js';
import { sqlBackends } from '../harness/backends.js';
import { auditFixture, type AuditFixture } from './helpers.js';

const DAY = 86_400_000;

for (const backend of sqlBackends()) {
  describe.skipIf(!backend.available)(`audit checkpoints and retention (${backend.name})`, () => {
    let store: SqlStore;
    let f: AuditFixture;

    beforeEach(async () => {
      store = await backend.create();
      f = auditFixture(store, { retentionDays: 90 });
    });
    afterEach(async () => {
      await store.close();
    });

    it('writes signed checkpoints of the head to a 0600 file outside the database', async () => {
      await f.add(5);
      const mark = await f.audit.checkpoint();
      expect(mark).toMatchObject({ kind: 'checkpoint', seq: 5 });
      expect(await f.audit.checkpoint()).toBeNull(); // nothing new since
      expect(statSync(f.checkpointPath).mode & 0o777).toBe(0o600);
      const line = JSON.parse(readFileSync(f.checkpointPath, 'utf8').trim()) as Record<string, unknown>;
      expect(line).toEqual({ kind: 'checkpoint', seq: 5, hash: mark?.hash, ts: f.clock.nowMs(), sig: expect.stringMatching(/^[A-Za-z0-9_-]{86}$/) });
      expect((await f.audit.verify()).checkpoints).toBe(1);
    });

    it('detects a truncated tail through the checkpoint', async () => {
      await f.add(10);
      await f.audit.checkpoint();
      await store.db.deleteFrom('auditLog').where('seq', '>', 7).execute();
      expect((await f.audit.verify()).broken).toEqual({ seq: 8, reason: 'truncated' });
    });

    it('detects a whole table rewritten with a consistent chain', async () => {
      await f.add(10);
      await f.audit.checkpoint();
      // An attacker holding the chain key (not the signing key) rebuilds every link after changing entry 3.
      const rows = await store.db.selectFrom('auditLog').selectAll().orderBy('seq').execute();
      let prev = GENESIS_HASH;
      for (const row of rows) {
        const entry = fromRow(row);
        if (!entry) throw new Error('unreadable');
        const changed = { ...entry, prevHash: prev, ...(entry.seq === 3 ? { actorIp: '192.0.2.66' } : {}) };
        const { hash: _h, ...unhashed } = changed;
        const hash = chainHash(f.keys.hmacKey, unhashed);
        await store.db.updateTable('auditLog').set({ actorIp: changed.actorIp, prevHash: prev, hash }).where('seq', '=', entry.seq).execute();
        prev = hash;
      }
      expect((await f.audit.verify()).broken).toEqual({ seq: 10, reason: 'checkpoint_mismatch' });
    });

    it('refuses a checkpoint file with a forged or edited line', async () => {
      await f.add(3);
      await f.audit.checkpoint();
      const line = JSON.parse(readFileSync(f.checkpointPath, 'utf8').trim()) as Record<string, unknown>;
      appendFileSync(f.checkpointPath, `${JSON.stringify({ ...line, seq: 99 })}\n`);
      expect((await f.audit.verify()).broken).toEqual({ seq: 0, reason: 'checkpoint_invalid' });
      writeFileSync(f.checkpointPath, 'not json\n');
      expect((await f.audit.verify()).broken?.reason).toBe('checkpoint_invalid');
    });

    it('retention removes old entries, leaves a signed anchor, and the rest still verifies', async () => {
      await f.add(30);
      f.clock.advance(50 * DAY);
      await f.add(20);
      await f.audit.checkpoint();
      f.clock.advance(45 * DAY); // the first 30 are now 95 days old, the rest 45
      const result = await f.audit.applyRetention();
      expect(result.removed).toBe(30);
      expect(result.anchor).toMatchObject({ kind: 'anchor', seq: 30 });
      const anchors = await store.db.selectFrom('auditAnchors').selectAll().execute();
      expect(anchors.map((a) => Number(a.seq))).toEqual([30]);
      const verified = await f.audit.verify();
      expect(verified).toMatchObject({ ok: true, count: 20, firstSeq: 31, lastSeq: 50 });
      // New entries continue the chain after retention.
      await f.add(2);
      expect(await f.audit.verify()).toMatchObject({ ok: true, count: 22, lastSeq: 52 });
      // The anchor's signature is what lets entry 31 start the chain: a forged anchor does not.
      await store.db.updateTable('auditAnchors').set({ hash: 'f'.repeat(64) }).execute();
      expect((await f.audit.verify()).broken).toEqual({ seq: 31, reason: 'missing_anchor' });
    });

    it('retention of everything keeps the head in the anchor, and the chain goes on', async () => {
      await f.add(5);
      f.clock.advance(100 * DAY);
      expect((await f.audit.applyRetention()).removed).toBe(5);
      expect(await f.audit.verify()).toMatchObject({ ok: true, count: 0 });
      await f.add(1);
      const first = await store.db.selectFrom('auditLog').selectAll().executeTakeFirstOrThrow();
      expect(Number(first.seq)).toBe(6);
      expect(await f.audit.verify()).toMatchObject({ ok: true, count: 1, firstSeq: 6 });
    });

    it('retention cuts only a prefix in seq order', async () => {
      await f.add(3);
      f.clock.advance(100 * DAY);
      await f.add(2);
      // Entry 5 carries an old timestamp (written late); entry 4 is recent, so the cut stops at 3.
      await f.add([{ action: 'login_failed', at: f.clock.nowMs() - 200 * DAY }]);
      expect((await f.audit.applyRetention()).removed).toBe(3);
      expect(await f.audit.verify()).toMatchObject({ ok: true, firstSeq: 4 });
    });

    it('signs with a key only secrets.audit gives: a checkpoint from another key is invalid', async () => {
      await f.add(2);
      const other = auditFixture(store, { checkpointPath: f.checkpointPath });
      await other.audit.checkpoint();
      expect((await f.audit.verify()).broken?.reason).toBe('checkpoint_invalid');
    });
  });
}

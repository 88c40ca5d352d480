import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { appendEntries } from '../../src/security/audit/chain.js';
import { headPathOf } from '../../src/security/audit/head-file.js';
import { deriveAuditKeys } from '../../src/security/audit/keys.js';
import { prepareEntry } from '../../src/security/recorder.js';
import { createLogger } from '../../src/server/logger.js';
import { startServer } from '../../src/server/start.js';
import type { HttpsClient } from '../harness/client.js';
import { cleanEnv, runCli } from '../harness/cli.js';
import { adminClient, modes, startTestServer, type TestServer } from '../harness/server.js';
import { settle } from './helpers.js';

/**
 * The newest audit entries deleted straight in the database, on a running
 * server: the API and `flotilla audit verify` (another process on the same
 * deployment, reading the same signed head) both say which are missing.
 */
for (const { mode, available } of modes()) {
  describe.skipIf(!available)(`signed audit head through the API and the CLI (${mode})`, () => {
    let t: TestServer;
    let admin: HttpsClient;
    const cli = () => runCli(['--data-dir', t.config.dataDir, 'audit', 'verify', '--json'], { env: cleanEnv(t.env) });
    const db = () => t.server.services.sql.db;
    const lastSeq = async () => Number((await db().selectFrom('auditLog').select('seq').orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow()).seq);

    /** The API's and the CLI's verdicts, which must agree. */
    async function verdicts(): Promise<{ api: Record<string, unknown>; cli: Record<string, unknown>; code: number | null }> {
      const api = await admin.get('/api/admin/audit/verify');
      expect(api.status).toBe(200);
      const run = await cli();
      const parsed = JSON.parse(run.stdout) as Record<string, unknown>;
      expect(parsed).toEqual(api.json);
      return { api: api.json, cli: parsed, code: run.code };
    }

    async function record(n: number): Promise<void> {
      for (let i = 0; i < n; i++) void t.server.services.security.recorder.record({ action: 'test_head', actorId: `u-${i}` });
      await settle(t);
    }

    beforeAll(async () => {
      t = await startTestServer({ mode });
      admin = await adminClient(t);
      await record(20);
    }, 60_000);
    afterAll(async () => {
      await t?.close();
    });

    it('a normal run and a head behind the database verify', async () => {
      const end = await lastSeq();
      const ok = await verdicts();
      expect(ok.code).toBe(0);
      expect(ok.api).toMatchObject({ ok: true, lastSeq: end, signedHeadSeq: end, broken: null, message: null });
      // Committed past the server's writer, as if it died before advancing the head.
      const { hmacKey } = deriveAuditKeys(t.server.services.secrets.audit);
      await appendEntries(t.server.services.sql, hmacKey, [prepareEntry({ action: 'test_head' }, Date.now())], Date.now());
      const lagging = await verdicts();
      expect(lagging.code).toBe(0);
      expect(lagging.api).toMatchObject({ ok: true, lastSeq: end + 1, signedHeadSeq: end });
    }, 60_000);

    it('deleting the newest entry, then the newest 10, is reported by both', async () => {
      await record(2);
      const end = await lastSeq();
      const newest = await db().selectFrom('auditLog').selectAll().where('seq', '=', end).executeTakeFirstOrThrow();
      await db().deleteFrom('auditLog').where('seq', '=', end).execute();
      const one = await verdicts();
      expect(one.code).toBe(1);
      expect(one.api).toMatchObject({ ok: false, broken: { seq: end, reason: 'truncated' }, message: `entries after seq ${end - 1} are missing: the signed head is at seq ${end}` });

      // Put it back: the chain verifies again, and then loses its newest 10.
      await db().insertInto('auditLog').values(newest).execute();
      expect((await verdicts()).code).toBe(0);
      await db().deleteFrom('auditLog').where('seq', '>', end - 10).execute();
      const ten = await verdicts();
      expect(ten.code).toBe(1);
      expect(ten.api).toMatchObject({ ok: false, broken: { seq: end - 9, reason: 'truncated' } });
      expect(String(ten.api.message).startsWith(`entries after seq ${end - 10} are missing`)).toBe(true);
      expect((await runCli(['--data-dir', t.config.dataDir, 'audit', 'verify'], { env: cleanEnv(t.env) })).stdout).toContain(`entries after seq ${end - 10} are missing`);

      // The server's next appends leave the head where it is, and count that for the alert (once per head
      // write they attempt: the appends may land in one batch or several).
      const headFailures = async () =>
        Number(/^flotilla_audit_head_failures_total (\d+)$/m.exec(await t.server.services.security.metrics.registry.getSingleMetricAsString('flotilla_audit_head_failures_total'))?.[1] ?? 0);
      expect(await headFailures()).toBe(0);
      await record(3);
      expect((await verdicts()).api).toMatchObject({ ok: false, signedHeadSeq: end });
      expect(await headFailures()).toBeGreaterThanOrEqual(1);
    }, 120_000);
  });
}

describe('a server start', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-head-start-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('starts a removed head at the end of the database, and logs that', async () => {
    const config = await loadConfig({ env: {}, overrides: { dataDir, server: { host: '127.0.0.1', port: 0 } } });
    const logs: Array<Record<string, unknown>> = [];
    const log = createLogger('warn', { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
    const first = await startServer(config, { print: () => undefined, log });
    await first.services.security.recorder.record({ action: 'test_head' });
    await first.services.security.audit.flush();
    const end = (await first.services.security.audit.verify()).lastSeq;
    await first.close();

    rmSync(headPathOf(join(dataDir, 'audit-checkpoints.jsonl')));
    const missing = await runCli(['--data-dir', dataDir, 'audit', 'verify', '--json']);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout)).toMatchObject({ broken: { reason: 'head_missing' } });

    const second = await startServer(config, { print: () => undefined, log });
    try {
      await vi.waitFor(() => expect(logs.some((l) => l.msg === 'audit chain had no signed head: started one at the end of the database')).toBe(true));
      expect(await second.services.security.audit.verify()).toMatchObject({ ok: true, signedHeadSeq: expect.any(Number) });
      expect((await second.services.security.audit.verify()).signedHeadSeq).toBeGreaterThanOrEqual(end ?? 1);
    } finally {
      await second.close();
    }
  }, 120_000);
});

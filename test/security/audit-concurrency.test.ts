import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { FileHeadStore } from '../../src/security/audit/head-file.js';
import { createLogger } from '../../src/server/logger.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { createDb } from '../../src/store/sql/db.js';
import { migrateToLatest } from '../../src/store/sql/migrate.js';
import { clusterSecretsEnv, createPostgresDatabase } from '../harness/backends.js';
import { auditFixture } from './helpers.js';

const WORKER = fileURLToPath(new URL('./fixtures/append-worker.ts', import.meta.url));
const dirs: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const secret = () => randomBytes(32).toString('base64url');

function runWorker(file: string, auditSecret: string, count: number, tag: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER, file, auditSecret, String(count), tag], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`worker exited ${code}: ${out}`))));
  });
}

describe('appends from two processes on one SQLite file', () => {
  it('make one unbroken chain (BEGIN IMMEDIATE takes the write lock before the head is read)', async () => {
    const file = join(tempDir('flotilla-audit-sqlite-'), 'flotilla.db');
    const store = await createDb({ sqliteFile: file });
    await migrateToLatest(store);
    const auditSecret = secret();
    try {
      const outputs = await Promise.all([runWorker(file, auditSecret, 300, 'a'), runWorker(file, auditSecret, 300, 'b')]);
      for (const out of outputs) expect(out).toContain('failures=0');
      // The head both workers advanced, in one file.
      const f = auditFixture(store, { secret: auditSecret, head: (keys) => new FileHeadStore(`${file}.head.json`, keys) });
      const verified = await f.audit.verify();
      expect(verified).toMatchObject({ ok: true, count: 600, lastSeq: 600 });
      expect(verified.signedHeadSeq).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  }, 120_000);
});

describe.skipIf(inject('databaseUrl') === null)('appends from two server instances sharing one PostgreSQL', () => {
  it('make one unbroken chain (pg_advisory_xact_lock)', async () => {
    const database = await createPostgresDatabase();
    const servers: RunningServer[] = [];
    try {
      // Both nodes get the same secrets, as a cluster must.
      const env: Record<string, string> = { DATABASE_URL: database.url, ...clusterSecretsEnv() };
      for (const node of ['a', 'b']) {
        const config = await loadConfig({ env, overrides: { dataDir: tempDir(`flotilla-node-${node}-`), server: { host: '127.0.0.1', port: 0 } } });
        servers.push(await startServer(config, { print: () => undefined, log: createLogger('silent') }));
      }
      const [a, b] = servers as [RunningServer, RunningServer];
      // Interleaved bursts from both nodes, each node's own pool racing the other's for the chain head.
      const record = (s: RunningServer, i: number) => s.services.security.recorder.record({ action: 'test_append', actorId: `node-${i}` });
      for (let round = 0; round < 40; round++) {
        await Promise.all(Array.from({ length: 10 }, (_, i) => record(i % 2 ? a : b, round * 10 + i)));
      }
      const verify = await a.services.security.audit.verify();
      expect(verify.ok, JSON.stringify(verify.broken)).toBe(true);
      const appended = await a.services.sql.db.selectFrom('auditLog').select((eb) => eb.fn.countAll<number>().as('n')).where('action', '=', 'test_append').executeTakeFirstOrThrow();
      expect(Number(appended.n)).toBe(400);
      const total = await a.services.sql.db.selectFrom('auditLog').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      expect(verify.count).toBe(Number(total.n));
      expect((await b.services.security.audit.verify()).ok).toBe(true);
    } finally {
      for (const s of servers) await s.close();
      await database.drop();
    }
  }, 120_000);
});

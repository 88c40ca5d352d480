/**
 * Helpers for the security suites (and bench:audit): an audit service over a
 * real store, a bulk-loaded chain, raw HTTPS requests from a chosen loopback
 * address (the server sees it as the client IP), and polling for background work.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { ManualClock, type Clock } from '../../src/lib/clock.js';
import { chainHash, GENESIS_HASH, toRow, type AuditEntry } from '../../src/security/audit/entry.js';
import { FileHeadStore, headPathOf } from '../../src/security/audit/head-file.js';
import type { HeadStore } from '../../src/security/audit/head.js';
import { deriveAuditKeys, type AuditKeys } from '../../src/security/audit/keys.js';
import { AuditService } from '../../src/security/audit/service.js';
import type { AuditRecord } from '../../src/security/audit/sink.js';
import { prepareEntry } from '../../src/security/recorder.js';
import type { SqlStore } from '../../src/store/sql/db.js';
import type { Reply } from '../harness/client.js';
import type { TestServer } from '../harness/server.js';

export interface AuditFixture {
  audit: AuditService;
  keys: AuditKeys;
  clock: ManualClock;
  dir: string;
  checkpointPath: string;
  failures: unknown[];
  /** Reports that the signed head could not be advanced. */
  headFailures: unknown[];
  /** Appends n entries (or the given records) and waits until they are written and the head covers them. */
  add(n: number | AuditRecord[]): Promise<void>;
}

/** An audit service over a real store; its signed head in a file next to the checkpoints unless `head` says where. */
export function auditFixture(
  store: SqlStore,
  opts: { secret?: string; clock?: ManualClock; retentionDays?: number; checkpointPath?: string; head?: (keys: AuditKeys) => HeadStore } = {},
): AuditFixture {
  const clock = opts.clock ?? new ManualClock(Date.UTC(2026, 0, 1));
  const keys = deriveAuditKeys(opts.secret ?? randomBytes(32).toString('base64url'));
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-audit-'));
  const checkpointPath = opts.checkpointPath ?? join(dir, 'audit-checkpoints.jsonl');
  const failures: unknown[] = [];
  const headFailures: unknown[] = [];
  const audit = new AuditService({
    sql: store,
    clock,
    keys,
    checkpointPath,
    retentionDays: opts.retentionDays ?? 90,
    head: opts.head?.(keys) ?? new FileHeadStore(headPathOf(checkpointPath), keys),
    onAppendFailure: (err) => failures.push(err),
    onHeadFailure: (err) => headFailures.push(err),
  });
  let n = 0;
  return {
    audit,
    keys,
    clock,
    dir,
    checkpointPath,
    failures,
    headFailures,
    async add(what) {
      const records: AuditRecord[] = typeof what === 'number' ? Array.from({ length: what }, () => sampleRecord(++n)) : what;
      await Promise.all(records.map((r) => audit.append(prepareEntry(r, clock.nowMs()))));
      await audit.flush(); // and the signed head advanced past them
    },
  };
}

export function sampleRecord(i: number): AuditRecord {
  return {
    action: i % 3 === 0 ? 'login_failed' : 'user_updated',
    actorId: i % 3 === 0 ? null : `user-${i % 7}`,
    actorIp: `198.51.100.${i % 250}`,
    resourceType: 'user',
    resourceId: `user-${i % 5}`,
    before: { role: 'viewer', status: 'active' },
    after: { role: i % 2 ? 'operator' : 'viewer', status: 'active' },
    success: i % 3 !== 0,
    error: i % 3 === 0 ? 'bad_credentials' : null,
  };
}

/**
 * Writes a valid chain of `rows` entries (seq 1..rows) straight into the
 * migrated SQLite file, bypassing the writer: a second connection with one
 * prepared statement in one transaction is the fastest bulk load.
 */
export function insertChain(file: string, hmacKey: Uint8Array, rows: number, now: number): void {
  const raw = new SqliteDatabase(file);
  try {
    const insert = raw.prepare(
      `insert into audit_log (seq, ts, actor_type, actor_id, actor_ip, action, resource_type, resource_id, before, after, success, error, prev_hash, hash, created_at, updated_at)
       values (@seq, @ts, @actorType, @actorId, @actorIp, @action, @resourceType, @resourceId, @before, @after, @success, @error, @prevHash, @hash, @createdAt, @updatedAt)`,
    );
    // One entry rewritten in place: `{ ...template, seq }` per row takes V8's slow path and would double the load time.
    const entry: AuditEntry = Object.assign(prepareEntry(sampleRecord(1), now), { seq: 0, prevHash: GENESIS_HASH, hash: '' });
    raw.transaction(() => {
      for (let seq = 1; seq <= rows; seq++) {
        entry.seq = seq;
        entry.actorId = `user-${seq % 97}`;
        entry.prevHash = seq === 1 ? GENESIS_HASH : entry.hash;
        entry.hash = chainHash(hmacKey, entry);
        insert.run(toRow(entry, now));
      }
    })();
  } finally {
    raw.close();
  }
}

/** Polls until check() returns a truthy value or the time runs out. */
export async function waitFor<T>(check: () => Promise<T | undefined | null | false> | T | undefined | null | false, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** One HTTPS request whose source address is `from` (any 127.x address works on Linux), so the server sees that client IP. */
export function requestFrom(t: TestServer, from: string, method: string, path: string, opts: { body?: unknown; bearer?: string } = {}): Promise<Reply> {
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const headers: Record<string, string> = {};
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  if (opts.bearer) headers.authorization = `Bearer ${opts.bearer}`;
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: t.server.port, method, path, headers, localAddress: from, ca: t.server.certificate.certPem, servername: 'localhost', agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, setCookies: [] });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Waits for every security event emitted so far to be in the audit chain. */
export async function settle(t: TestServer): Promise<void> {
  // Detection and recording run after the response; give them a turn, then drain the writer.
  await new Promise((r) => setTimeout(r, 50));
  await t.server.services.security.audit.flush();
}

export type { Clock };

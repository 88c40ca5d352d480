/**
 * Helpers for the security suites: an audit service over a real store, raw
 * HTTPS requests from a chosen loopback address (the server sees it as the
 * client IP), and polling for background work.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, type Clock } from '../../src/lib/clock.js';
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
  /** Appends n entries (or the given records) and waits until they are written. */
  add(n: number | AuditRecord[]): Promise<void>;
}

export function auditFixture(store: SqlStore, opts: { secret?: string; clock?: ManualClock; retentionDays?: number; checkpointPath?: string } = {}): AuditFixture {
  const clock = opts.clock ?? new ManualClock(Date.UTC(2026, 0, 1));
  const keys = deriveAuditKeys(opts.secret ?? randomBytes(32).toString('base64url'));
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-audit-'));
  const checkpointPath = opts.checkpointPath ?? join(dir, 'audit-checkpoints.jsonl');
  const failures: unknown[] = [];
  const audit = new AuditService({ sql: store, clock, keys, checkpointPath, retentionDays: opts.retentionDays ?? 90, onAppendFailure: (err) => failures.push(err) });
  let n = 0;
  return {
    audit,
    keys,
    clock,
    dir,
    checkpointPath,
    failures,
    async add(what) {
      const records: AuditRecord[] = typeof what === 'number' ? Array.from({ length: what }, () => sampleRecord(++n)) : what;
      await Promise.all(records.map((r) => audit.append(prepareEntry(r, clock.nowMs()))));
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

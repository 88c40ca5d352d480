/**
 * A real identity module on a fresh SQLite database and a real KV (memory or
 * Redis), driven in-process with a manual clock: for the account-defense
 * rules that need many attempts, many addresses or much time.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import type { Secrets } from '../../src/config/schema.js';
import type { IdentityEvent } from '../../src/identity/events.js';
import { createIdentity, type Identity } from '../../src/identity/module.js';
import { totpCodeForStep, totpStepAt } from '../../src/identity/mfa/totp.js';
import { ManualClock } from '../../src/lib/clock.js';
import type { Kv } from '../../src/store/kv/kv.js';
import type { SqlStore } from '../../src/store/sql/db.js';
import type { KvBackend } from '../harness/backends.js';
import { sqlBackends } from '../harness/backends.js';

export interface IdentityFixture {
  identity: Identity;
  clock: ManualClock;
  sql: SqlStore;
  kv: Kv;
  events: IdentityEvent[];
  /** Creates an active user whose password needs no change. */
  user(username: string, password: string, role?: 'admin' | 'operator' | 'viewer'): Promise<string>;
  /** Enrolls TOTP for a user; returns a function giving the code `stepsAhead` steps from now. */
  enrollTotp(userId: string, username: string): Promise<(stepsAhead?: number) => string>;
  close(): Promise<void>;
}

const secret = () => randomBytes(32).toString('base64url');

export async function identityFixture(kvBackend: KvBackend, env: Record<string, string> = {}): Promise<IdentityFixture> {
  const clock = new ManualClock(Date.now());
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-identity-'));
  const [sqlite] = sqlBackends();
  const sql = await sqlite!.create();
  const kv = await kvBackend.create(clock);
  const config = await loadConfig({ env, overrides: { dataDir: dir } });
  const secrets: Secrets = { jwt: secret(), pepper: { '1': secret() }, e2ee: secret(), db: secret(), audit: secret(), commandSigning: secret(), cluster: secret() };
  const identity = await createIdentity({ db: sql.db, kv, clock, config, secrets });
  const events: IdentityEvent[] = [];
  identity.events.subscribe((e) => events.push(e));
  return {
    identity,
    clock,
    sql,
    kv,
    events,
    async user(username, password, role = 'viewer') {
      const view = await identity.users.create({ username, password, role, mustChangePassword: false }, { id: null, ip: null });
      return view.id;
    },
    async enrollTotp(userId, username) {
      const setup = await identity.mfa.setupTotp(userId, username);
      const code = (stepsAhead = 0) => totpCodeForStep(setup.manualEntryKey, totpStepAt(clock.nowMs()) + stepsAhead);
      await identity.mfa.confirmTotp(userId, code(), null);
      // Later codes must be for later steps: the confirmation spent this one.
      clock.advance(30_000);
      return code;
    },
    async close() {
      await kv.close();
      await sql.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createDb, type SqlStore } from '../../src/store/sql/db.js';
import { dialects, isForeignKeyViolation, isUniqueViolation } from '../../src/store/sql/dialect.js';
import { migrateToLatest, migrations } from '../../src/store/sql/migrate.js';
import type { Database, UsersTable } from '../../src/store/sql/tables.js';
import { sqlBackends } from '../harness/backends.js';

const T0 = Date.UTC(2026, 0, 1);

type Snake<S extends string> = S extends `${infer H}${infer T}` ? `${H extends Lowercase<H> ? H : `_${Lowercase<H>}`}${Snake<T>}` : S;
/** Each table and column of tables.ts, snake_case, with `true` exactly where its type admits null. */
type ExpectedColumns = {
  [T in keyof Database as Snake<T & string>]: { [C in keyof Database[T] as Snake<C & string>]: null extends Database[T][C] ? true : false };
};

/**
 * What every migration together must create. The type makes the compiler
 * check this list against tables.ts (a missing table or column, or a wrong
 * nullability, does not typecheck); the test checks the databases against it.
 */
const expectedColumns: ExpectedColumns = {
  users: {
    id: false, username: false, role: false, status: false, password_hash: false, password_algo: false,
    password_salt: true, pepper_version: true, must_change_password: false, password_changed_at: false,
    created_at: false, updated_at: false,
  },
  sessions: {
    id: false, user_id: false, amr: false, ip: true, user_agent: true, created_at: false, updated_at: false,
    last_seen_at: false, expires_at: false, revoked_at: true, revoked_reason: true, access_jti: true,
  },
  refresh_tokens: {
    id: false, session_id: false, token_hash: false, created_at: false, updated_at: false, expires_at: false, used_at: true,
  },
  enrollment_tokens: {
    id: false, secret_hash: false, note: true, max_uses: false, uses: false, expires_at: false, revoked_at: true, created_by: true,
    created_at: false, updated_at: false,
  },
  agents: {
    id: false, key_hash: false, kid: false, prev_kid: true, prev_kid_until: true, last_seq: false, last_result_seq: false,
    interval_seconds: false, enrollment_token_id: true, enrolled_at: false, revoked_at: true, last_ip: true, created_at: false, updated_at: false,
  },
  machines: {
    id: false, hostname: false, os: false, platform: false, arch: false, serial: true, agent_version: true, facts: false, facts_hash: false,
    last_seen_at: true, last_collected_at: true, cpu: true, mem: true, swap: true, disk: true, net_rx: true, net_tx: true, load1: true,
    net_rx_total: true, net_tx_total: true, latest: true, decommissioned_at: true, created_at: false, updated_at: false,
  },
  machine_tags: { machine_id: false, tag: false, created_at: false, updated_at: false },
  metrics_raw: {
    machine_id: false, ts: false, cpu: true, mem: true, swap: true, disk: true, net_rx: true, net_tx: true, load1: true, created_at: false, updated_at: false,
  },
  metrics_minute: {
    machine_id: false, bucket: false, count: false, cpu_avg: true, cpu_max: true, mem_avg: true, mem_max: true, swap_avg: true, swap_max: true,
    disk_avg: true, disk_max: true, net_rx_avg: true, net_rx_max: true, net_tx_avg: true, net_tx_max: true, load1_avg: true, load1_max: true,
    created_at: false, updated_at: false,
  },
  metrics_hour: {
    machine_id: false, bucket: false, count: false, cpu_avg: true, cpu_max: true, mem_avg: true, mem_max: true, swap_avg: true, swap_max: true,
    disk_avg: true, disk_max: true, net_rx_avg: true, net_rx_max: true, net_tx_avg: true, net_tx_max: true, load1_avg: true, load1_max: true,
    created_at: false, updated_at: false,
  },
  job_watermarks: { name: false, value: false, created_at: false, updated_at: false },
  mfa_totp: { user_id: false, secret_enc: false, confirmed_at: true, last_used_step: true, created_at: false, updated_at: false },
  mfa_backup_codes: { id: false, user_id: false, code_hash: false, used_at: true, created_at: false, updated_at: false },
  webauthn_credentials: {
    id: false, user_id: false, credential_id: false, public_key: false, counter: false, transports: false, name: false,
    device_type: false, backed_up: false, last_used_at: true, created_at: false, updated_at: false,
  },
  login_locations: { user_id: false, prefix: false, last_seen_at: false, created_at: false, updated_at: false },
  account_lockouts: { user_id: false, locked_until: false, created_at: false, updated_at: false },
  audit_log: {
    seq: false, ts: false, actor_type: false, actor_id: true, actor_ip: true, action: false, resource_type: true, resource_id: true,
    before: true, after: true, success: false, error: true, prev_hash: false, hash: false, created_at: false, updated_at: false,
  },
  audit_anchors: { seq: false, hash: false, ts: false, sig: false, created_at: false, updated_at: false },
  command_requests: {
    id: false, action: false, params: false, script_sha256: true, target: false, requested_by: false, state: false, approvals_required: false,
    ttl_seconds: false, approval_expires_at: false, approved_at: true, created_at: false, updated_at: false,
  },
  command_approvals: { request_id: false, user_id: false, decision: false, comment: true, at: false },
  commands: {
    id: false, request_id: false, agent_id: false, state: false, signed: true, issued_at: true, expires_at: true, delivered_at: true,
    started_at: true, finished_at: true, exit_code: true, signal: true, output: true, output_bytes: true, output_sha256: true, truncated: true,
    reason: true, created_at: false, updated_at: false,
  },
};

function user(id: string, username: string): UsersTable {
  return {
    id, username, role: 'admin', status: 'active', passwordHash: '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA', passwordAlgo: 'argon2id',
    passwordSalt: null, pepperVersion: 1, mustChangePassword: 1, passwordChangedAt: T0, createdAt: T0, updatedAt: T0,
  };
}

function session(id: string, userId: string) {
  return { id, userId, amr: '["pwd"]', ip: '127.0.0.1', userAgent: 'test', createdAt: T0, updatedAt: T0, lastSeenAt: T0, expiresAt: T0 + 1, revokedAt: null, revokedReason: null };
}

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (err: unknown) => err,
  );
}

for (const backend of sqlBackends()) {
  describe.skipIf(!backend.available)(`sql migrations: ${backend.name}`, () => {
    const open: SqlStore[] = [];
    const create = async (opts?: { migrate?: boolean }): Promise<SqlStore> => {
      const store = await backend.create(opts);
      open.push(store);
      return store;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });

    it('applies every migration once; running again is a no-op', async () => {
      const store = await create({ migrate: false });
      expect(store.dialect).toBe(backend.name);
      expect(await migrateToLatest(store)).toEqual(Object.keys(migrations));
      expect(await migrateToLatest(store)).toEqual([]);
    });

    it('creates the tables of tables.ts with the expected columns and nullability', async () => {
      const store = await create();
      const tables = await store.db.withoutPlugins().introspection.getTables();
      const actual = Object.fromEntries(
        tables.map((t) => [t.name, Object.fromEntries(t.columns.map((c) => [c.name, c.isNullable]))]),
      );
      expect(Object.keys(actual).sort()).toEqual(Object.keys(expectedColumns).sort());
      for (const [name, columns] of Object.entries(expectedColumns)) expect(actual[name], name).toEqual(columns);
    });

    it('creates the lookup indexes', async () => {
      const store = await create();
      const query =
        store.dialect === 'sqlite'
          ? sql<{ name: string }>`select name from sqlite_master where type = 'index'`
          : sql<{ name: string }>`select indexname as name from pg_indexes where schemaname = 'public'`;
      const names = (await query.execute(store.db)).rows.map((r) => r.name);
      expect(names).toEqual(expect.arrayContaining(['sessions_user_id_idx', 'refresh_tokens_session_id_idx']));
    });

    it('maps camelCase rows to snake_case columns and back', async () => {
      const store = await create();
      const row = user('u1', 'alice');
      await store.db.insertInto('users').values(row).execute();
      expect(await store.db.selectFrom('users').selectAll().where('id', '=', 'u1').executeTakeFirstOrThrow()).toEqual(row);
      const raw = await sql<{ password_hash: string }>`select password_hash from users where id = 'u1'`.execute(store.db.withoutPlugins());
      expect(raw.rows[0]?.password_hash).toBe(row.passwordHash);
    });

    it('reads int8 millisecond timestamps back as exact numbers', async () => {
      const store = await create();
      const big = Number.MAX_SAFE_INTEGER;
      await store.db.insertInto('users').values({ ...user('u1', 'alice'), createdAt: big, passwordChangedAt: T0 }).execute();
      const back = await store.db.selectFrom('users').select(['createdAt', 'passwordChangedAt', 'mustChangePassword']).executeTakeFirstOrThrow();
      expect(back).toEqual({ createdAt: big, passwordChangedAt: T0, mustChangePassword: 1 });
      expect(typeof back.createdAt).toBe('number');
      const { count } = await store.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
      expect(count).toBe(1);
    });

    it('detects unique violations on username, primary key and token hash', async () => {
      const store = await create();
      const caps = dialects[store.dialect];
      await store.db.insertInto('users').values(user('u1', 'alice')).execute();

      const sameName = await failureOf(store.db.insertInto('users').values(user('u2', 'alice')).execute());
      expect(isUniqueViolation(sameName)).toBe(true);
      expect(caps.isUniqueViolation(sameName)).toBe(true);
      expect(caps.isUniqueViolation(new Error('wrapped', { cause: sameName }))).toBe(true);

      const sameId = await failureOf(store.db.insertInto('users').values(user('u1', 'bob')).execute());
      expect(caps.isUniqueViolation(sameId)).toBe(true);

      await store.db.insertInto('sessions').values(session('s1', 'u1')).execute();
      const token = { id: 'r1', sessionId: 's1', tokenHash: 'ab'.repeat(32), createdAt: T0, updatedAt: T0, expiresAt: T0 + 1, usedAt: null };
      await store.db.insertInto('refreshTokens').values(token).execute();
      const sameHash = await failureOf(store.db.insertInto('refreshTokens').values({ ...token, id: 'r2' }).execute());
      expect(caps.isUniqueViolation(sameHash)).toBe(true);

      // Other failures are not unique violations.
      const notNull = await failureOf(sql`insert into users (id) values ('u9')`.execute(store.db));
      expect(isUniqueViolation(notNull)).toBe(false);
      expect(isUniqueViolation(new Error('x'))).toBe(false);
      expect(isUniqueViolation(null)).toBe(false);
    });

    it('enforces foreign keys and cascades deletes', async () => {
      const store = await create();
      const orphan = await failureOf(store.db.insertInto('sessions').values(session('s1', 'nobody')).execute());
      expect(isForeignKeyViolation(orphan)).toBe(true);
      expect(isUniqueViolation(orphan)).toBe(false);

      await store.db.insertInto('users').values(user('u1', 'alice')).execute();
      await store.db.insertInto('sessions').values(session('s1', 'u1')).execute();
      await store.db
        .insertInto('refreshTokens')
        .values({ id: 'r1', sessionId: 's1', tokenHash: 'cd'.repeat(32), createdAt: T0, updatedAt: T0, expiresAt: T0 + 1, usedAt: null })
        .execute();
      await store.db.deleteFrom('users').where('id', '=', 'u1').execute();
      expect(await store.db.selectFrom('sessions').selectAll().execute()).toEqual([]);
      expect(await store.db.selectFrom('refreshTokens').selectAll().execute()).toEqual([]);
    });

    it('names the migration that failed', async () => {
      const store = await create();
      const provider = {
        getMigrations: async () => ({
          ...migrations,
          '9999_broken': {
            up: async () => {
              throw new Error('boom');
            },
          },
        }),
      };
      await expect(migrateToLatest(store, provider)).rejects.toThrow('migration 9999_broken failed: boom');
    });
  });
}

describe('sql: sqlite specifics', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('turns on WAL, foreign keys, busy timeout and synchronous=NORMAL', async () => {
    const [backend] = sqlBackends();
    const store = await backend!.create();
    try {
      const pragma = async (name: string): Promise<unknown> => {
        const { rows } = await sql<Record<string, unknown>>`${sql.raw(`pragma ${name}`)}`.execute(store.db.withoutPlugins());
        return Object.values(rows[0] ?? {})[0];
      };
      expect(await pragma('journal_mode')).toBe('wal');
      expect(await pragma('foreign_keys')).toBe(1);
      expect(await pragma('busy_timeout')).toBe(5000);
      expect(await pragma('synchronous')).toBe(1); // NORMAL
    } finally {
      await store.close();
    }
  });

  it('creates the parent directory and a file only the owner can read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-sqlite-'));
    dirs.push(dir);
    const file = join(dir, 'nested', 'data', 'flotilla.db');
    const store = await createDb({ sqliteFile: file });
    try {
      expect(store.dialect).toBe('sqlite');
      expect(statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      await store.close();
    }
  });

  it('createDb without url or file is refused', async () => {
    await expect(createDb({})).rejects.toThrow(/url or a SQLite file/);
  });
});

const databaseUrl = inject('databaseUrl');

describe.skipIf(databaseUrl === null)('sql: postgres specifics', () => {
  it('refuses an int8 beyond the safe integer range instead of rounding it', async () => {
    const [, backend] = sqlBackends();
    const store = await backend!.create();
    try {
      await expect(sql`select 9007199254740993::int8 as n`.execute(store.db)).rejects.toThrow(RangeError);
    } finally {
      await store.close();
    }
  });

  it('a wrong password fails with a clear error that does not contain the password', async () => {
    const url = new URL(databaseUrl ?? 'postgres://unused');
    const badPassword = `wrong-${Date.now()}-pw`;
    url.password = badPassword;
    const err = (await failureOf(createDb({ url: url.toString() }))) as Error;
    expect(err.message).toMatch(/cannot connect to PostgreSQL at 127\.0\.0\.1:\d+\/postgres: .*password authentication failed/);
    expect(`${err.message} ${String((err.cause as Error | undefined)?.message)}`).not.toContain(badPassword);
  });
});

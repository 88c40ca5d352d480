import bcrypt from 'bcryptjs';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { legacySha256 } from '../../src/identity/passwords/legacy.js';
import { newId } from '../../src/lib/ids.js';
import { findOnPath, startRedis } from '../harness/services.js';
import { redisServerEnv } from '../harness/backends.js';
import { startTestServer, type TestServer } from '../harness/server.js';

function plainGet(port: number, path: string, host = 'localhost'): Promise<{ status: number; location: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }));
      })
      .on('error', reject);
  });
}

describe('health, readiness and the plain-HTTP port', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ env: { FLOTILLA_SERVER_HTTP_PORT: '0' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers /healthz and /readyz', async () => {
    const c = t.client();
    expect((await c.get('/healthz')).json).toEqual({ status: 'ok' });
    expect((await c.get('/readyz')).json).toEqual({ status: 'ready', checks: { database: 'ok', kv: 'ok' } });
  });

  it('the plain-HTTP port only redirects to HTTPS, keeping path and query', async () => {
    const port = t.server.httpPort;
    expect(port).toBeGreaterThan(0);
    const res = await plainGet(port ?? 0, '/api/me?x=1&y=%20', 'localhost:8080');
    expect(res.status).toBe(308);
    expect(res.location).toBe(`https://localhost:${t.server.port}/api/me?x=1&y=%20`);
    expect(res.body).toBe('');
    const api = await plainGet(port ?? 0, '/healthz');
    expect(api.status).toBe(308);
  });
});

describe.skipIf(!findOnPath('redis-server'))('readiness follows the KV', () => {
  it('answers 503 naming the KV when Redis goes away', async () => {
    const redis = await startRedis(findOnPath('redis-server') ?? '');
    const t = await startTestServer({ mode: 'embedded', env: redisServerEnv(redis.url) });
    try {
      expect((await t.client().get('/readyz')).status).toBe(200);
      await redis.stop();
      const res = await t.client().get('/readyz');
      expect(res.status).toBe(503);
      expect(res.json).toEqual({ status: 'unavailable', checks: { database: 'ok', kv: 'unreachable' } });
      expect((await t.client().get('/healthz')).status).toBe(200);
    } finally {
      await t.close();
      await redis.stop();
    }
  });
});

describe('legacy password hashes from the server Flotilla replaces', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t?.close();
  });

  async function insertLegacyUser(username: string, hash: string, algo: 'sha256' | 'bcrypt', salt: string | null) {
    const now = Date.now();
    await t.server.services.sql.db
      .insertInto('users')
      .values({ id: newId(), username, role: 'viewer', status: 'active', passwordHash: hash, passwordAlgo: algo, passwordSalt: salt, pepperVersion: null, mustChangePassword: 0, passwordChangedAt: now, createdAt: now, updatedAt: now })
      .execute();
  }

  const stored = (username: string) => t.server.services.sql.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirstOrThrow();

  it('verifies a sha256+salt hash once and rehashes it to argon2id', async () => {
    await insertLegacyUser('legacy-sha', legacySha256('Old-Fleet-Password-1', 'a1b2c3d4'), 'sha256', 'a1b2c3d4');
    expect((await t.client().post('/api/auth/login', { username: 'legacy-sha', password: 'Wrong-Fleet-Password-1' })).status).toBe(401);
    expect((await stored('legacy-sha')).passwordAlgo).toBe('sha256');
    expect((await t.client().post('/api/auth/login', { username: 'legacy-sha', password: 'Old-Fleet-Password-1' })).status).toBe(200);
    const after = await stored('legacy-sha');
    expect(after.passwordAlgo).toBe('argon2id');
    expect(after.passwordHash).toMatch(/^\$argon2id\$v=19\$m=65536,t=3,p=4\$/);
    expect(after.passwordSalt).toBeNull();
    expect((await t.client().post('/api/auth/login', { username: 'legacy-sha', password: 'Old-Fleet-Password-1' })).status).toBe(200);
  });

  it('verifies a bcrypt $2b$ hash once and rehashes it to argon2id', async () => {
    await insertLegacyUser('legacy-bcrypt', await bcrypt.hash('Old-Bcrypt-Password-2', 12), 'bcrypt', null);
    expect((await t.client().post('/api/auth/login', { username: 'legacy-bcrypt', password: 'Old-Bcrypt-Password-2' })).status).toBe(200);
    expect((await stored('legacy-bcrypt')).passwordAlgo).toBe('argon2id');
  });
});

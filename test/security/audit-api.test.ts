import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvCell } from '../../src/security/audit/export.js';
import type { HttpsClient } from '../harness/client.js';
import { cleanEnv, runCli } from '../harness/cli.js';
import { adminClient, modes, startTestServer, STRONG_PASSWORD, type TestServer } from '../harness/server.js';
import { settle } from './helpers.js';

const VIEWER_PASSWORD = 'Watch-Only-Pass-71';

for (const { mode, available } of modes()) {
  describe.skipIf(!available)(`audit API (${mode})`, () => {
    let t: TestServer;
    let admin: HttpsClient;
    let adminId: string;

    beforeAll(async () => {
      t = await startTestServer({ mode });
      admin = await adminClient(t);
      adminId = (await admin.get('/api/me')).json.user.id;
      await t.client().post('/api/auth/login', { username: 'admin', password: 'Wrong-Password-1!' });
      await t.client().post('/api/auth/login', { username: 'nobody', password: 'Wrong-Password-1!' });
      await admin.send('POST', '/api/admin/users', { username: 'audit-viewer', password: VIEWER_PASSWORD, role: 'viewer' });
      await t.client().post('/api/auth/login', { username: 'audit-viewer', password: VIEWER_PASSWORD });
      await settle(t);
    });
    afterAll(async () => {
      await t?.close();
    });

    it('lists entries newest first with filters', async () => {
      const all = await admin.get('/api/admin/audit?limit=500');
      expect(all.status).toBe(200);
      const actions = all.json.items.map((e: { action: string }) => e.action);
      expect(actions).toEqual(expect.arrayContaining(['user_created', 'login_succeeded', 'login_failed', 'password_changed', 'admin_request']));
      const seqs = all.json.items.map((e: { seq: number }) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
      for (const item of all.json.items) expect(Object.keys(item)).not.toContain('hash');

      // The admin change names the resource its route declares.
      const requests = (await admin.get('/api/admin/audit?action=admin_request&limit=500')).json.items;
      expect(requests.find((e: { after: { route: string } }) => e.after.route === '/api/admin/users')).toMatchObject({ resourceType: 'user', actorId: adminId, after: { method: 'POST', statusCode: 201 } });

      const failed = (await admin.get('/api/admin/audit?action=login_failed')).json.items;
      expect(failed).toHaveLength(2);
      expect(failed.every((e: { success: boolean; actorIp: string }) => !e.success && e.actorIp === '127.0.0.1')).toBe(true);
      expect(failed.map((e: { error: string }) => e.error).sort()).toEqual(['bad_credentials', 'unknown_user']);
      expect(failed.find((e: { error: string }) => e.error === 'unknown_user').after).toEqual({ username: 'nobody' });

      const byActor = (await admin.get(`/api/admin/audit?actor=${adminId}&action=user_created`)).json.items;
      expect(byActor).toHaveLength(1);
      expect(byActor[0]).toMatchObject({ actorType: 'user', actorId: adminId, resourceType: 'user', after: { role: 'viewer' } });
      const forUser = (await admin.get(`/api/admin/audit?resourceType=user&resourceId=${byActor[0].resourceId}`)).json.items;
      expect(forUser.map((e: { action: string }) => e.action)).toEqual(expect.arrayContaining(['user_created', 'login_succeeded']));
      expect((await admin.get('/api/admin/audit?success=false&limit=500')).json.items.every((e: { success: boolean }) => !e.success)).toBe(true);
      const last = all.json.items[0];
      expect((await admin.get(`/api/admin/audit?from=${last.ts + 1}`)).json.items).toEqual([]);
      expect((await admin.get(`/api/admin/audit?to=${last.ts}&limit=500`)).json.items.length).toBe(all.json.items.length);
    });

    it('pages with an opaque cursor', async () => {
      const seen: number[] = [];
      let cursor: string | null = null;
      do {
        const page: { items: Array<{ seq: number }>; next: string | null } = (await admin.get(`/api/admin/audit?limit=3${cursor ? `&cursor=${cursor}` : ''}`)).json;
        expect(page.items.length).toBeLessThanOrEqual(3);
        seen.push(...page.items.map((e) => e.seq));
        cursor = page.next;
      } while (cursor);
      const all = (await admin.get('/api/admin/audit?limit=500')).json.items.map((e: { seq: number }) => e.seq);
      expect(seen).toEqual(all);
      expect((await admin.get('/api/admin/audit?cursor=bm90LWEtc2Vx')).json.error.code).toBe('invalid_cursor');
      expect((await admin.get('/api/admin/audit?from=5&to=1')).json.error.code).toBe('invalid_range');
      expect((await admin.get('/api/admin/audit?success=maybe')).status).toBe(400);
    });

    it('verifies the chain over HTTP', async () => {
      const res = await admin.get('/api/admin/audit/verify');
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ ok: true, firstSeq: 1, broken: null });
      expect(res.json.count).toBeGreaterThan(5);
      expect(res.json.head).toMatch(/^[0-9a-f]{64}$/);
    });

    it('exports CSV with formula cells neutralized, and JSON with the hashes', async () => {
      await t.server.services.security.recorder.record({ action: 'test_export', resourceType: 'ip', resourceId: '=HYPERLINK("http://evil")', error: '@SUM(1+1)', actorId: '+cmd', actorIp: '-2+3' });
      const csv = await admin.get('/api/admin/audit/export?format=csv&action=test_export');
      expect(csv.status).toBe(200);
      expect(csv.headers['content-type']).toMatch(/^text\/csv/);
      expect(csv.headers['content-disposition']).toMatch(/attachment/);
      const [header, line] = csv.text.trim().split('\r\n');
      expect(header).toBe('"seq","ts","time","actorType","actorId","actorIp","action","resourceType","resourceId","success","error","before","after","prevHash","hash"');
      expect(line).toContain(`"'=HYPERLINK(""http://evil"")"`);
      expect(line).toContain(`"'@SUM(1+1)"`);
      expect(line).toContain(`"'+cmd"`);
      expect(line).toContain(`"'-2+3"`);
      expect(csvCell('-1')).toBe(`"'-1"`);
      expect(csvCell('\tx')).toBe(`"'\tx"`);
      expect(csvCell('plain, "quoted"')).toBe(`"plain, ""quoted"""`);

      const json = await admin.get('/api/admin/audit/export?format=json');
      expect(json.status).toBe(200);
      const entries = JSON.parse(json.text) as Array<{ seq: number; prevHash: string; hash: string }>;
      expect(entries.length).toBe((await admin.get('/api/admin/audit/verify')).json.count);
      for (let i = 1; i < entries.length; i++) expect(entries[i]?.prevHash).toBe(entries[i - 1]?.hash);
      expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
      expect((await admin.get('/api/admin/audit/export?format=xml')).status).toBe(400);
    });

    it('lists security events only', async () => {
      const res = await admin.get('/api/admin/security/events?limit=500');
      expect(res.status).toBe(200);
      const actions = new Set(res.json.items.map((e: { action: string }) => e.action));
      expect(actions.has('login_failed')).toBe(true);
      expect(actions.has('admin_request')).toBe(false);
      expect(actions.has('login_succeeded')).toBe(false);
      expect((await admin.get('/api/admin/security/events?action=admin_request')).json.items).toEqual([]);
    });

    it('is for admins only', async () => {
      const viewer = t.client();
      await viewer.post('/api/auth/login', { username: 'audit-viewer', password: VIEWER_PASSWORD });
      await viewer.send('POST', '/api/me/password', { currentPassword: VIEWER_PASSWORD, newPassword: 'Watch-Only-Pass-72' });
      for (const path of ['/api/admin/audit', '/api/admin/audit/verify', '/api/admin/audit/export', '/api/admin/security/events']) {
        expect((await viewer.get(path)).status).toBe(403);
        expect((await t.client().get(path)).status).toBe(401);
      }
    });
  });
}

describe('flotilla audit verify|export|checkpoint', () => {
  let t: TestServer;
  const cli = (...args: string[]) => runCli(['--data-dir', t.config.dataDir, 'audit', ...args], { env: cleanEnv() });

  beforeAll(async () => {
    t = await startTestServer();
    await adminClient(t);
    await t.client().post('/api/auth/login', { username: 'admin', password: 'Wrong-Password-2!' });
    await t.client().post('/api/auth/login', { username: 'admin', password: STRONG_PASSWORD });
    await settle(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('verifies, exports and checkpoints from the command line; names a tampered entry and exits 1', async () => {
    const ok = await cli('verify');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^audit chain ok: \d+ entries \(seq 1\.\.\d+\), head [0-9a-f]{64}/);
    const exported = await cli('export', '--format', 'csv', '--action', 'login_failed');
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout.trim().split('\r\n')).toHaveLength(2);
    const mark = await cli('checkpoint');
    expect(mark.stdout).toMatch(/^checkpoint seq=\d+ hash=[0-9a-f]{64}/);

    await t.server.services.sql.db.updateTable('auditLog').set({ actorIp: '203.0.113.99' }).where('seq', '=', 2).execute();
    const broken = await cli('verify', '--json');
    expect(broken.code).toBe(1);
    expect(JSON.parse(broken.stdout)).toMatchObject({ ok: false, broken: { seq: 2, reason: 'hash_mismatch' } });
    expect((await cli('verify')).stdout).toMatch(/BROKEN at seq 2: hash_mismatch/);
  });
});

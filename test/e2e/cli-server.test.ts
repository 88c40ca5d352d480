import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HttpsClient } from '../harness/client.js';
import { cleanEnv, runCli, startCliServer } from '../harness/cli.js';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-cli-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function waitForMachine(client: HttpsClient, name: string): Promise<{ status: string }> {
  // Half-second polls stay far below the per-IP limit this server runs with.
  for (let i = 0; i < 60; i++) {
    const list = await client.get(`/api/fleet/machines?search=${encodeURIComponent(name)}`);
    if (list.status !== 200) throw new Error(`machine list answered ${list.status}: ${list.text}`);
    const machine = (list.json.items as Array<{ hostname: string; status: string; lastSeenAt: number | null }>).find((m) => m.hostname === name && m.lastSeenAt !== null);
    if (machine) return machine;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`machine ${name} never reported`);
}

/** Every encoding a leaked secret could take in a log line. */
function encodings(value: string): string[] {
  const bytes = Buffer.from(value, 'base64url');
  return [value, bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64').replace(/=+$/, '')];
}

describe('flotilla server, run as a process', () => {
  it('a full run at trace level never logs a generated secret, a password or a token', async () => {
    const dataDir = tempDir();
    const server = await startCliServer(['--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0'], {
      // Without an MFA requirement the password-only admin can reach the admin and fleet routes logged here.
      env: cleanEnv({ FLOTILLA_LOG_LEVEL: 'trace', FLOTILLA_SECURITY_REQUIRE_MFA_FOR_ADMINS: 'false' }),
    });
    const newPassword = 'Logged-Never-Password-8';
    const leaked: string[] = [];
    try {
      const adminPassword = /initial admin password: (\S+)/.exec(server.output())?.[1] ?? '';
      expect(adminPassword).not.toBe('');
      expect(statSync(join(dataDir, 'secrets.json')).mode & 0o777).toBe(0o600);
      const client = new HttpsClient(Number(new URL(server.url).port), readFileSync(join(dataDir, 'tls', 'cert.pem'), 'utf8'));
      await client.post('/api/auth/login', { username: 'admin', password: 'Wrong-Password-123!' });
      await client.post('/api/auth/login', { username: 'admin', password: adminPassword });
      await client.send('POST', '/api/me/password', { currentPassword: adminPassword, newPassword });
      expect((await client.send('POST', '/api/admin/users', { username: 'log-test', password: 'Created-User-Pass-5', role: 'viewer' })).status).toBe(201);
      const tokens = (await client.post('/api/auth/token', { username: 'admin', password: newPassword })).json;
      await client.post('/api/auth/refresh', { refreshToken: tokens.refreshToken }, { cookies: false });
      await client.request('POST', '/api/admin/users', { raw: '{"password": "Broken-Json', headers: { 'content-type': 'application/json' } });
      await client.get('/api/nope');
      // `npm start` shows its own host at once: the local agent enrolls and reports.
      const local = await waitForMachine(client, hostname());
      expect(local.status).toBe('online');
      await client.send('POST', '/api/auth/logout');
      client.close();
      const agent = JSON.parse(readFileSync(join(dataDir, 'agent', 'agent.json'), 'utf8')) as { apiKey: string; sealingKey: string };
      leaked.push(newPassword, 'Created-User-Pass-5', 'Wrong-Password-123!', tokens.accessToken, tokens.refreshToken, agent.apiKey, agent.sealingKey);
    } finally {
      await server.stop();
    }
    const output = server.output();
    expect(output).toMatch(/request completed/); // request logging (debug and below) really was on
    const secrets = JSON.parse(readFileSync(join(dataDir, 'secrets.json'), 'utf8')) as Record<string, string | Record<string, string>>;
    const values = Object.values(secrets).flatMap((v) => (typeof v === 'string' ? [v] : Object.values(v)));
    expect(values.length).toBeGreaterThanOrEqual(7);
    for (const value of values) for (const form of encodings(value)) expect(output.includes(form), `secret leaked in ${form.slice(0, 4)}…`).toBe(false);
    for (const value of leaked) expect(output.includes(value), `${value.slice(0, 6)}… leaked`).toBe(false);
    // The one-time admin password is printed exactly once, on purpose, and nowhere else.
    const adminPassword = /initial admin password: (\S+)/.exec(output)?.[1] ?? '';
    expect(output.split(adminPassword).length - 1).toBe(1);
    // So is the first start's enrollment command, pinned to the generated certificate.
    const enroll = /^enroll a machine \(token valid 24 h, 10 uses\): flotilla agent enroll --server (\S+) --token (fle_\S+) --pin (\S+)$/m.exec(output);
    expect(enroll?.[1]).toBe(server.url);
    expect(enroll?.[3]).toBe(server.fingerprint);
    expect(output.split(enroll?.[2] ?? '-').length - 1).toBe(1);
  });

  it('stops at start-up on an unknown key or a wrong type, naming the key', async () => {
    const dataDir = tempDir();
    const config = join(dataDir, 'flotilla.yaml');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(config, 'server:\n  prot: 1\n');
    const unknown = await runCli(['--config', config, 'server']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/server\.prot: unknown key/);
    const wrongType = await runCli(['--data-dir', dataDir, 'server'], { env: cleanEnv({ FLOTILLA_SERVER_PORT: 'eighty' }) });
    expect(wrongType.code).toBe(1);
    expect(wrongType.stderr).toMatch(/server\.port.*FLOTILLA_SERVER_PORT/);
    expect(wrongType.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses to start when secrets.json is readable by others', async () => {
    const dataDir = tempDir();
    const first = await runCli(['--data-dir', dataDir, 'migrate']);
    expect(first.code).toBe(0);
    const { chmodSync, existsSync } = await import('node:fs');
    // migrate does not need secrets; a user command does and generates them.
    const created = await runCli(['--data-dir', dataDir, 'user', 'list']);
    expect(created.code).toBe(0);
    expect(existsSync(join(dataDir, 'secrets.json'))).toBe(true);
    chmodSync(join(dataDir, 'secrets.json'), 0o644);
    const refused = await runCli(['--data-dir', dataDir, 'user', 'list']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/chmod 600/);
  });

  it('manages users from the command line', async () => {
    const dataDir = tempDir();
    const cli = (...args: string[]) => runCli(['--data-dir', dataDir, ...args]);
    expect((await cli('migrate')).stdout).toMatch(/applied 0001_init/);
    expect((await cli('migrate')).stdout).toMatch(/up to date/);
    const created = await cli('user', 'create', 'carol', '--role', 'operator');
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/created user carol \(operator\)/);
    expect(created.stdout).toMatch(/one-time password: \S{24}/);
    const fromStdin = await runCli(['--data-dir', dataDir, 'user', 'create', 'dave', '--password-stdin'], { stdin: 'Stdin-Password-Zeta-7\n' });
    expect(fromStdin.code).toBe(0);
    expect(fromStdin.stdout).not.toMatch(/one-time password/);
    const weak = await runCli(['--data-dir', dataDir, 'user', 'create', 'eve', '--password-stdin'], { stdin: 'password\n' });
    expect(weak.code).toBe(1);
    expect(weak.stderr).toMatch(/weak_password/);
    expect((await cli('user', 'role', 'dave', 'admin')).stdout).toMatch(/dave is now admin/);
    expect((await cli('user', 'role', 'dave', 'root')).stderr).toMatch(/role must be/);
    expect((await cli('user', 'suspend', 'carol')).stdout).toMatch(/carol is now suspended/);
    const list = await cli('user', 'list', '--json');
    const users = list.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(users.map((u: { username: string; role: string; status: string }) => `${u.username}:${u.role}:${u.status}`)).toEqual(['carol:operator:suspended', 'dave:admin:active']);
    expect(list.stdout).not.toMatch(/hash|argon2/i);
    expect((await cli('user', 'unsuspend', 'carol')).stdout).toMatch(/carol is now active/);
    const reset = await cli('user', 'passwd', 'carol');
    expect(reset.stdout).toMatch(/one-time password: \S{24}/);
    expect((await cli('user', 'suspend', 'nobody')).stderr).toMatch(/user_not_found/);
  }, 240_000); // fifteen separate CLI processes, each compiling from source
});

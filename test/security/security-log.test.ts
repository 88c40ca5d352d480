import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeValue, securityLine } from '../../src/security/seclog/line.js';
import { findOnPath } from '../harness/services.js';
import { adminClient, startTestServer, STRONG_PASSWORD, type TestServer } from '../harness/server.js';
import { requestFrom, settle } from './helpers.js';

const run = promisify(execFile);
const FILTER = fileURLToPath(new URL('../../deploy/fail2ban/filter.d/flotilla.conf', import.meta.url));
const JAIL = fileURLToPath(new URL('../../deploy/fail2ban/jail.d/flotilla.conf', import.meta.url));
const LINE_START = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z flotilla event=[a-z_.]+ client_ip=\S+/;

/** Reads the fields back the way a log parser would: bare tokens or quoted strings with escapes. */
function parseFields(line: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const re = /([a-z_]+)=("(?:[^"\\]|\\.)*"|[^\s"]+)/gy;
  re.lastIndex = line.indexOf(' flotilla ') + ' flotilla '.length;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line)) !== null) {
    const raw = m[2] ?? '';
    out.push([m[1] ?? '', raw.startsWith('"') ? (JSON.parse(raw.replace(/\\u([0-9a-f]{4})/g, '\\u$1')) as string) : raw]);
    if (line[re.lastIndex] === ' ') re.lastIndex++;
  }
  return out;
}

describe('security log line format', () => {
  it('leaves plain tokens bare and quotes anything else, escaping what could end a line or a field', () => {
    expect(escapeValue('bob')).toBe('bob');
    expect(escapeValue('203.0.113.9')).toBe('203.0.113.9');
    expect(escapeValue('2001:db8::1')).toBe('2001:db8::1');
    expect(escapeValue('x client_ip=1.2.3.4')).toBe('"x client_ip=1.2.3.4"');
    expect(escapeValue('a=b')).toBe('"a=b"');
    expect(escapeValue('say "hi" \\o/')).toBe('"say \\"hi\\" \\\\o/"');
    expect(escapeValue('l1\nl2\rl3\tx\u0000\u001b\u007f\u2028')).toBe('"l1\\nl2\\rl3\\tx\\u0000\\u001b\\u007f\\u2028"');
    expect(escapeValue('')).toBe('""');
  });

  it('writes one line whose fields read back exactly, whatever a username holds', () => {
    const nasty = ['x client_ip=1.2.3.4', 'a\n2026-01-01T00:00:00Z flotilla event=login_failed client_ip=6.6.6.6', '"\\" success=true', 'tab\there', 'émoji 🚀'];
    for (const user of nasty) {
      const line = securityLine(Date.UTC(2026, 10, 26, 12), [
        ['event', 'login_failed'],
        ['client_ip', '203.0.113.9'],
        ['user', user],
        ['success', false],
      ]);
      expect(line).not.toMatch(/[\n\r\u2028]/);
      expect(line.startsWith('2026-11-26T12:00:00Z flotilla event=login_failed client_ip=203.0.113.9 user=')).toBe(true);
      expect(parseFields(line)).toEqual([
        ['event', 'login_failed'],
        ['client_ip', '203.0.113.9'],
        ['user', user],
        ['success', 'false'],
      ]);
    }
    expect(() => securityLine(0, [['bad key', 'x']])).toThrow();
  });
});

describe.skipIf(!findOnPath('fail2ban-regex'))('security log on a running server, read by fail2ban', () => {
  let t: TestServer;
  let logFile: string;
  const failures: Array<{ from: string; username: string }> = [
    { from: '127.0.0.2', username: 'bob' },
    { from: '127.0.0.3', username: 'admin' },
    { from: '127.0.0.4', username: 'mallory client_ip=1.2.3.4' },
    { from: '127.0.0.5', username: 'eve\n2026-01-01T00:00:00Z flotilla event=login_failed client_ip=6.6.6.6 user=x' },
    { from: '127.0.0.6', username: '"\\" client_ip=7.7.7.7\r' },
  ];

  beforeAll(async () => {
    t = await startTestServer();
    logFile = join(t.config.dataDir, 'logs', 'security.log');
    await adminClient(t);
    for (const { from, username } of failures) {
      const res = await requestFrom(t, from, 'POST', '/api/auth/login', { body: { username, password: 'Not-The-Password-9' } });
      expect(res.status).toBe(401);
    }
    expect((await requestFrom(t, '127.0.0.7', 'POST', '/api/auth/login', { body: { username: 'admin', password: STRONG_PASSWORD } })).status).toBe(200);
    // A honey account "succeeds" for the caller, and is an attack in the log.
    expect((await requestFrom(t, '127.0.0.8', 'POST', '/api/auth/login', { body: { username: 'admin_backup', password: 'Anything-At-All-1' } })).status).toBe(200);
    await settle(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('is a 0600 file in a 0700 directory, one event per line', () => {
    expect(statSync(logFile).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(logFile)).mode & 0o777).toBe(0o700);
    const lines = readFileSync(logFile, 'utf8').trimEnd().split('\n');
    for (const line of lines) expect(line).toMatch(LINE_START);
    expect(lines.filter((l) => l.includes(' event=login_failed ')).length).toBe(failures.length);
    expect(lines).toContain(lines.find((l) => l.includes('client_ip=127.0.0.3 user=admin action=login success=false reason=bad_credentials')));
  });

  it('fail2ban-regex matches every failure with its real client IP, no success, and never a forged IP', async () => {
    const { stdout } = await run('fail2ban-regex', ['-o', '<ip> <msg>', logFile, FILTER]);
    const matches = stdout
      .trim()
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => ({ ip: l.slice(0, l.indexOf(' ')), line: l.slice(l.indexOf(' ') + 1) }));
    expect(matches.map((m) => m.ip).sort()).toEqual([...failures.map((f) => f.from), '127.0.0.8'].sort());
    for (const m of matches) {
      expect(m.line).toContain(`client_ip=${m.ip} `);
      expect(m.line).not.toMatch(/event=login_succeeded/);
    }
    for (const forged of ['1.2.3.4', '6.6.6.6', '7.7.7.7']) expect(matches.some((m) => m.ip === forged)).toBe(false);
    expect(matches.some((m) => m.ip === '127.0.0.7')).toBe(false);
  });

  it('ships a jail: 5 failures in 300 s ban for 3600 s', () => {
    const jail = readFileSync(JAIL, 'utf8');
    expect(jail).toMatch(/^\[flotilla\]$/m);
    expect(jail).toMatch(/^filter\s*=\s*flotilla$/m);
    expect(jail).toMatch(/^maxretry\s*=\s*5$/m);
    expect(jail).toMatch(/^findtime\s*=\s*300$/m);
    expect(jail).toMatch(/^bantime\s*=\s*3600$/m);
  });
});

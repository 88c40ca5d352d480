import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/server/logger.js';
import { formatLogLine } from '../../src/server/log-format.js';
import { adminClient, startTestServer, type TestServer } from '../harness/server.js';
import { createEnrollmentToken, enroll, facts, report, send } from '../fleet/agent-sim.js';

/** Collects what the server's logger writes, one parsed JSON line each. */
function capture(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger(level, sink), lines };
}

async function reportOnce(t: TestServer): Promise<void> {
  const admin = await adminClient(t);
  const client = t.client();
  const agent = await enroll(client, (await createEnrollmentToken(admin)).token, facts({ hostname: 'log-host' }));
  for (let i = 0; i < 3; i++) expect((await send(client, agent, [report(Date.now() + i)], Date.now() + i)).status).toBe(200);
}

describe('server logs at the default level', () => {
  const captured = capture('info');
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ log: captured.log, env: { FLOTILLA_LOCAL_AGENT: 'false' } });
    await reportOnce(t);
  });
  afterAll(async () => t?.close());

  it('say what happened, not every request', () => {
    expect(captured.lines.filter((line) => line.msg === 'agent enrolled')).toHaveLength(1);
    expect(captured.lines.some((line) => line.msg === 'request completed' || line.msg === 'incoming request')).toBe(false);
    expect(captured.lines.some((line) => line.url === '/api/agent/report')).toBe(false);
  });
});

describe('server logs at debug', () => {
  const captured = capture('debug');
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ log: captured.log, env: { FLOTILLA_LOCAL_AGENT: 'false' } });
    await reportOnce(t);
  });
  afterAll(async () => t?.close());

  it('carry one line per request, with no credential', () => {
    const reports = captured.lines.filter((line) => line.msg === 'request completed' && line.url === '/api/agent/report');
    expect(reports).toHaveLength(3);
    expect(reports[0]).toMatchObject({ level: 20, method: 'POST', statusCode: 200 });
    expect(JSON.stringify(captured.lines)).not.toMatch(/fla_/);
  });
});

describe('log lines on a terminal', () => {
  it('read as time, level, message and fields', () => {
    const line = JSON.stringify({ level: 40, time: Date.UTC(2026, 0, 2, 3, 4, 5, 6), pid: 1, hostname: 'h', service: 'flotilla', msg: 'ip blocked', clientIp: '192.0.2.1', reason: 'two words' });
    expect(formatLogLine(line)).toBe('03:04:05.006 WARN  ip blocked clientIp=192.0.2.1 reason="two words"');
    expect(formatLogLine('not json')).toBe('not json');
  });
});

import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localAgentDir, localAgentEnabled, startLocalAgent, type LocalAgent } from '../../src/cli/local-agent.js';
import { loadConfig } from '../../src/config/load.js';
import { ensureSelfSigned, tlsContextOptions } from '../../src/server/tls.js';
import { systemClock } from '../../src/lib/clock.js';
import { startTestServer, type TestServer } from '../harness/server.js';

const identityFile = (t: TestServer) => join(localAgentDir(t.config), 'agent.json');
const readIdentity = (t: TestServer) => JSON.parse(readFileSync(identityFile(t), 'utf8')) as { agentId: string; trust: { kind: string; fingerprint?: string } };

async function waitFor<T>(probe: () => Promise<T | null | undefined>, what: string, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const value = await probe();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Reports that arrived after `after` from this agent. */
const reportedSince = (t: TestServer, agentId: string, after: number) => async () => {
  const agent = await t.server.services.fleet.agents.get(agentId);
  return agent.lastSeenAt !== null && agent.lastSeenAt > after ? agent : null;
};

describe('the local agent `flotilla server` runs for its own host', () => {
  let t: TestServer;
  let local: LocalAgent | null = null;

  beforeAll(async () => {
    t = await startTestServer({ env: { FLOTILLA_FLEET_REPORT_INTERVAL_SECONDS: '1' } });
  });
  afterAll(async () => {
    await local?.stop();
    await t?.close();
  });

  it('is on by default in embedded mode, off in cluster mode, and either way when configured', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-local-agent-cfg-'));
    const load = (env: Record<string, string>) => loadConfig({ env, overrides: { dataDir } });
    expect(localAgentEnabled(await load({}))).toBe(true);
    expect(localAgentEnabled(await load({ FLOTILLA_LOCAL_AGENT: 'false' }))).toBe(false);
    const cluster = { DATABASE_URL: 'postgres://flotilla@127.0.0.1:1/flotilla' };
    expect(localAgentEnabled(await load(cluster))).toBe(false);
    expect(localAgentEnabled(await load({ ...cluster, FLOTILLA_LOCAL_AGENT: 'true' }))).toBe(true);
  });

  it('enrolls on first start with a single-use token, pins the server certificate, and reports', async () => {
    local = await startLocalAgent(t.server);
    const identity = readIdentity(t);
    expect(statSync(identityFile(t)).mode & 0o777).toBe(0o600);
    expect(identity.trust).toEqual({ kind: 'pin', fingerprint: t.server.certificate.fingerprint });

    const agent = await waitFor(reportedSince(t, identity.agentId, 0), 'the first report');
    expect(agent.hostname).toBe(hostname());
    const tokens = await t.server.services.fleet.enrollment.listTokens({ limit: 10 });
    expect(tokens.items).toHaveLength(1);
    expect(tokens.items[0]).toMatchObject({ note: 'local agent', maxUses: 1, uses: 1, state: 'used_up' });
  });

  it('keeps its identity across restarts: one machine, not one per start', async () => {
    const { agentId } = readIdentity(t);
    await local?.stop();
    const stoppedAt = Date.now();
    local = await startLocalAgent(t.server);
    expect(readIdentity(t).agentId).toBe(agentId);
    await waitFor(reportedSince(t, agentId, stoppedAt), 'a report after the restart');
    expect((await t.server.services.fleet.machines.summary()).total).toBe(1);
  });

  it('follows a renewed certificate by pinning the new one', async () => {
    const { agentId } = readIdentity(t);
    const renewed = await ensureSelfSigned({ dir: mkdtempSync(join(tmpdir(), 'flotilla-renewed-')), names: [], clock: systemClock });
    expect(renewed.fingerprint).not.toBe(t.server.certificate.fingerprint);
    const useCertificate = (cert: typeof renewed) => {
      (t.server.app.server as unknown as HttpsServer).setSecureContext(tlsContextOptions(cert));
      local?.repin(cert);
    };
    try {
      useCertificate(renewed);
      await waitFor(async () => readIdentity(t).trust.fingerprint === renewed.fingerprint, 'the new pin');
      // Sent by the restarted agent on a new connection, which only the renewed certificate satisfies.
      const repinnedAt = Date.now();
      await waitFor(reportedSince(t, agentId, repinnedAt), 'a report under the new certificate');
    } finally {
      useCertificate(t.server.certificate);
    }
  });

  it('stays stopped once an admin has revoked it, instead of enrolling itself again', async () => {
    const { agentId } = readIdentity(t);
    await local?.stop();
    await t.server.services.fleet.agents.revoke(agentId);
    local = await startLocalAgent(t.server);
    await new Promise((r) => setTimeout(r, 1500));
    expect(readIdentity(t).agentId).toBe(agentId);
    expect((await t.server.services.fleet.machines.summary()).total).toBe(1);
    expect((await t.server.services.fleet.enrollment.listTokens({ limit: 10 })).items).toHaveLength(1);
  });

  it('enrolls afresh when the server no longer knows its identity (a new database)', async () => {
    await local?.stop();
    const stale = { ...JSON.parse(readFileSync(identityFile(t), 'utf8')), agentId: randomUUID() };
    writeFileSync(identityFile(t), JSON.stringify(stale), { mode: 0o600 });
    local = await startLocalAgent(t.server);
    const fresh = readIdentity(t).agentId;
    expect(fresh).not.toBe(stale.agentId);
    await waitFor(reportedSince(t, fresh, 0), 'the new agent reporting');
  });
});

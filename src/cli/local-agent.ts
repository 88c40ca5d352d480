import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { MetricsCollector } from '../agent/collect.js';
import { enrollAgent } from '../agent/enroll.js';
import { FileIdentityStore } from '../agent/identity.js';
import type { AgentLog } from '../agent/log.js';
import { runAgent, SPOOL_DIR } from '../agent/run.js';
import type { ServerTrust } from '../agent/trust.js';
import type { Config } from '../config/schema.js';
import { isClusterMode } from '../config/secrets.js';
import { DomainError } from '../lib/errors.js';
import type { RunningServer } from '../server/start.js';
import type { ServerCertificate } from '../server/tls.js';

/** The local agent keeps its identity where `flotilla agent run` looks by default. */
export const localAgentDir = (config: Config) => join(config.dataDir, 'agent');

export function localAgentEnabled(config: Config): boolean {
  return config.localAgent ?? !isClusterMode(config);
}

/** The listener as seen from this host: a wildcard address is reached over loopback. */
function loopbackUrl(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '') return `https://127.0.0.1:${port}`;
  if (host === '::') return `https://[::1]:${port}`;
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function serverLog(log: Logger): AgentLog {
  const child = log.child({ component: 'local-agent' });
  return {
    info: (msg, fields) => child.info(fields ?? {}, msg),
    warn: (msg, fields) => child.warn(fields ?? {}, msg),
    error: (msg, fields) => child.error(fields ?? {}, msg),
  };
}

export interface LocalAgent {
  /** Follows a renewed server certificate: the agent pins exactly the one in use. */
  repin(cert: ServerCertificate): void;
  stop(): Promise<void>;
}

/**
 * Enrolls this host with its own server on first start and runs the agent in
 * the server's process. The agent talks to the server over HTTPS like any
 * other, pinned to the server's current certificate. An agent an admin has
 * revoked or decommissioned is left alone rather than silently re-enrolled.
 */
export async function startLocalAgent(server: RunningServer): Promise<LocalAgent> {
  const { config, fleet, log: serverLogger, clock } = server.services;
  const log = serverLog(serverLogger);
  const store = new FileIdentityStore(localAgentDir(config));
  const serverUrl = loopbackUrl(config.server.host, server.port);
  const trustOf = (cert: ServerCertificate): ServerTrust => ({ kind: 'pin', fingerprint: cert.fingerprint });

  if (await store.exists()) {
    const identity = await store.read();
    const known = await fleet.agents.get(identity.agentId).catch((err: unknown) => {
      if (err instanceof DomainError) return null;
      throw err;
    });
    if (known && (known.revokedAt !== null || known.status === 'decommissioned')) {
      log.warn('the local agent was revoked or decommissioned by an admin; it stays stopped. Set localAgent: false, or remove its state dir to enroll it again', {
        agentId: identity.agentId,
        stateDir: store.stateDir,
      });
      return { repin() {}, stop: async () => {} };
    }
    if (known) await store.write({ ...identity, serverUrl, trust: trustOf(server.certificate) });
    else await rm(store.stateDir, { recursive: true, force: true });
  }
  if (!(await store.exists())) {
    // A single-use token that lives only as long as this enrollment takes.
    const { token } = await fleet.enrollment.createToken({ ttlSeconds: 300, maxUses: 1, note: 'local agent' }, null);
    const facts = await new MetricsCollector({ clock, log }).facts();
    const state = await enrollAgent({ serverUrl, token, trust: trustOf(server.certificate), facts, store, clock });
    await rm(join(store.stateDir, SPOOL_DIR), { recursive: true, force: true });
    log.info('local agent enrolled', { agentId: state.identity.agentId });
  }

  let controller = new AbortController();
  const run = () =>
    runAgent({ stateDir: store.stateDir, clock, log, signal: controller.signal }).catch((err: unknown) => {
      log.error('local agent stopped', { error: err instanceof Error ? err.message : String(err) });
    });
  let running = run();
  return {
    repin(cert) {
      controller.abort();
      const previous = running;
      controller = new AbortController();
      running = previous
        .then(async () => {
          const identity = await store.read();
          await store.write({ ...identity, trust: trustOf(cert) });
        })
        .then(run, (err: unknown) => log.error('local agent could not follow the renewed certificate', { error: (err as Error).message }));
    },
    async stop() {
      controller.abort();
      await running;
    },
  };
}

/**
 * A simulated agent for tests: enrolls over HTTPS, builds reports, seals them
 * with the security API exactly as a real agent must, and posts them.
 */
import https from 'node:https';
import { fromBase64url } from '../../src/protocol/base64url.js';
import { reportAad, sealEnvelope, type SealedEnvelope } from '../../src/protocol/sealing.js';
import type { Facts, Report } from '../../src/protocol/report.js';
import type { HttpsClient, Reply } from '../harness/client.js';

export interface SimAgent {
  agentId: string;
  apiKey: string;
  /** Sealing keys by version. */
  keys: Map<number, Uint8Array>;
  kid: number;
  /** The last seq used. */
  seq: number;
  commandPublicKey: string;
  intervalSeconds: number;
}

export function facts(overrides: Partial<Facts> = {}): Facts {
  return { hostname: 'host-1', os: 'linux', platform: 'Debian 12', arch: 'x64', kernel: '6.1.0', cpuCores: 4, memoryBytes: 8 * 2 ** 30, agentVersion: '0.1.0', ...overrides };
}

export async function createEnrollmentToken(admin: HttpsClient, opts: { maxUses?: number; ttlSeconds?: number; note?: string } = {}): Promise<{ id: string; token: string }> {
  const res = await admin.send('POST', '/api/admin/enrollment-tokens', { ttlSeconds: opts.ttlSeconds ?? 3600, maxUses: opts.maxUses ?? 10, ...(opts.note ? { note: opts.note } : {}) });
  if (res.status !== 201) throw new Error(`token creation failed: ${res.status} ${res.text}`);
  return res.json;
}

export async function enroll(client: HttpsClient, token: string, machineFacts: Facts = facts()): Promise<SimAgent> {
  const res = await client.post('/api/agent/enroll', { token, facts: machineFacts }, { cookies: false });
  if (res.status !== 201) throw new Error(`enroll failed: ${res.status} ${res.text}`);
  const key = fromBase64url(res.json.sealingKey);
  if (!key) throw new Error('enroll returned a bad sealing key');
  return {
    agentId: res.json.agentId,
    apiKey: res.json.apiKey,
    keys: new Map([[res.json.kid, key]]),
    kid: res.json.kid,
    seq: 0,
    commandPublicKey: res.json.commandPublicKey,
    intervalSeconds: res.json.intervalSeconds,
  };
}

export function report(collectedAt: number, overrides: Partial<Report> = {}): Report {
  return {
    collectedAt,
    cpu: { percent: 12.5, perCore: [10, 15], load: [0.5, 0.4, 0.3] },
    memory: { totalBytes: 8000, usedBytes: 2000 },
    swap: { totalBytes: 1000, usedBytes: 100 },
    disks: [
      { mount: '/', fs: 'ext4', totalBytes: 1000, usedBytes: 500 },
      { mount: '/data', totalBytes: 1000, usedBytes: 900 },
    ],
    network: [{ iface: 'eth0', rxBytes: 1000, txBytes: 2000 }],
    processes: { count: 120, topCpu: [{ pid: 1, name: 'init', cpu: 1.5, mem: 0.1 }], topMemory: [{ pid: 2, name: 'db', cpu: 0.5, mem: 30 }] },
    uptimeSeconds: 3600,
    ...overrides,
  };
}

export interface SealOptions {
  ts: number;
  /** Default: the agent's next seq (and it is taken). */
  seq?: number;
  kid?: number;
  key?: Uint8Array;
  /** Seal for another id than the agent's own (AAD tests). */
  aadAgentId?: string;
  plaintext?: Uint8Array;
}

export function seal(agent: SimAgent, reports: Report[], opts: SealOptions): SealedEnvelope {
  const seq = opts.seq ?? ++agent.seq;
  const kid = opts.kid ?? agent.kid;
  const key = opts.key ?? agent.keys.get(kid);
  if (!key) throw new Error(`no key for kid ${kid}`);
  const plaintext = opts.plaintext ?? new Uint8Array(Buffer.from(JSON.stringify({ reports }), 'utf8'));
  return sealEnvelope(key, { kid, ts: opts.ts, seq }, reportAad(opts.aadAgentId ?? agent.agentId, kid, opts.ts, seq), plaintext);
}

export function post(client: HttpsClient, agent: SimAgent, body: unknown, apiKey = agent.apiKey): Promise<Reply> {
  return client.post('/api/agent/report', body, { bearer: apiKey, cookies: false });
}

/** Seals and posts reports under the next seq; `ts` defaults to the report time. */
export function send(client: HttpsClient, agent: SimAgent, reports: Report[], ts = reports[reports.length - 1]?.collectedAt ?? 0): Promise<Reply> {
  return post(client, agent, seal(agent, reports, { ts }));
}

/** What the route-scan test needs: a token, an agent that has reported, and a spare agent to decommission. */
export async function fleetFixture(admin: HttpsClient, client: HttpsClient): Promise<{ tokenId: string; token: string; agent: SimAgent; spare: SimAgent }> {
  const { id, token } = await createEnrollmentToken(admin, { maxUses: 5, note: 'route scan' });
  const agent = await enroll(client, token, facts({ hostname: 'scan-host' }));
  const spare = await enroll(client, token, facts({ hostname: 'scan-spare' }));
  const sent = await send(client, agent, [report(Date.now())], Date.now());
  if (sent.status !== 200) throw new Error(`fixture report failed: ${sent.status} ${sent.text}`);
  return { tokenId: id, token, agent, spare };
}

/**
 * Opens `GET /api/fleet/events`, reads until the first `summary` event (or
 * 3 s), then hangs up. `json` holds the data of the events read.
 */
export function readEventStream(port: number, caPem: string, bearer: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path: '/api/fleet/events', method: 'GET', headers: { authorization: `Bearer ${bearer}` }, ca: caPem, servername: 'localhost' },
      (res) => {
        let text = '';
        const finish = () => {
          clearTimeout(timer);
          req.destroy();
          const json = [...text.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1] ?? 'null') as unknown);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, setCookies: [] });
        };
        const timer = setTimeout(finish, 3000);
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString('utf8');
          if (res.statusCode !== 200 || /^event: summary$/m.test(text)) finish();
        });
        res.on('end', finish);
      },
    );
    req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    req.end();
  });
}

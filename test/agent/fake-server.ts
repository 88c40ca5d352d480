import { randomBytes, webcrypto } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { systemClock, type Clock } from '../../src/lib/clock.js';
import { newId } from '../../src/lib/ids.js';
import { parseCommandResult, type CommandResult } from '../../src/protocol/command-result.js';
import { deriveAgentKey, isSealedEnvelope, MAX_RESULT_PLAINTEXT_BYTES, openEnvelope, reportAad, resultAad, sealRekey, type SealedEnvelope } from '../../src/protocol/sealing.js';
import { commandSignerFromSeed } from '../../src/protocol/signing.js';
import { ensureSelfSigned, fingerprintOf, tlsContextOptions, type ServerCertificate } from '../../src/server/tls.js';

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  body: unknown;
}

/** One report envelope as the fake server opened it. */
export interface OpenedEnvelope {
  agentId: string;
  envelope: SealedEnvelope;
  reports: unknown[];
}

/** One command result as the fake server opened it. */
export interface OpenedResult {
  agentId: string;
  commandId: string;
  seq: number;
  result: CommandResult;
}

interface FakeAgent {
  apiKey: string;
  kid: number;
  lastSeq: number;
  lastResultSeq: number;
  /** Commands for the next report answer only. */
  outbox: unknown[];
}

const FINAL = new Set(['succeeded', 'failed', 'timed_out', 'refused']);

const WINDOW_MS = 5 * 60_000;

/**
 * A small HTTPS server that answers like Flotilla's agent API (§13): it derives
 * each agent's key from its own master, opens envelopes, enforces the ts window
 * and seq order, and can rotate a key. `script` replies override it one by one.
 */
export class FakeAgentServer {
  readonly master = randomBytes(32);
  readonly token = `fle_${newId()}_${randomBytes(32).toString('base64url')}`;
  readonly signer = commandSignerFromSeed(randomBytes(32));
  readonly requests: RecordedRequest[] = [];
  readonly opened: OpenedEnvelope[] = [];
  readonly agents = new Map<string, FakeAgent>();
  /** Replies served before the normal behaviour, first in first out (report route only). */
  readonly script: Reply[] = [];
  /** The same, for the command-result route. */
  readonly resultScript: Reply[] = [];
  readonly results: OpenedResult[] = [];
  intervalSeconds = 10;
  commands: unknown[] = [];
  /** While true every connection is cut before an answer: the agent sees a network error. */
  down = false;

  private constructor(
    readonly server: https.Server,
    public cert: ServerCertificate,
    readonly clock: Clock,
  ) {}

  static async start(opts: { cert?: ServerCertificate; clock?: Clock } = {}): Promise<FakeAgentServer> {
    const cert = opts.cert ?? (await ensureSelfSigned({ dir: mkdtempSync(join(tmpdir(), 'flotilla-agent-tls-')), names: [], clock: systemClock }));
    const holder: { fake?: FakeAgentServer } = {};
    const server = https.createServer(tlsContextOptions(cert), (req, res) => void holder.fake?.handle(req, res));
    const fake = new FakeAgentServer(server, cert, opts.clock ?? systemClock);
    holder.fake = fake;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  get reportRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.path === '/api/agent/report');
  }

  useCertificate(cert: ServerCertificate): void {
    this.cert = cert;
    this.server.setSecureContext(tlsContextOptions(cert));
    this.server.closeAllConnections();
  }

  /** Rotates an agent's key: its next report (sealed under the old kid) is answered with a rekey. */
  rotate(agentId: string): number {
    const agent = this.agents.get(agentId);
    if (!agent) throw new Error('unknown agent');
    agent.kid += 1;
    return agent.kid;
  }

  /** Hands `commands` to the agent in its next report answer, once. */
  deliver(agentId: string, ...commands: unknown[]): void {
    const agent = this.agents.get(agentId);
    if (!agent) throw new Error('unknown agent');
    agent.outbox.push(...commands);
  }

  resultsFor(commandId: string): CommandResult[] {
    return this.results.filter((r) => r.commandId === commandId).map((r) => r.result);
  }

  keyOf(agentId: string, kid: number): Uint8Array {
    return deriveAgentKey(this.master, agentId, kid);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.down) {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      body = undefined;
    }
    const recorded = { method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization, body };
    this.requests.push(recorded);
    const reply = this.answer(recorded);
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
  }

  private answer(req: RecordedRequest): Reply {
    if (req.method === 'POST' && req.path === '/api/agent/enroll') return this.enroll(req);
    if (req.method === 'POST' && req.path === '/api/agent/report') return this.script.shift() ?? this.report(req);
    const result = /^\/api\/agent\/commands\/([^/]+)\/result$/.exec(req.path);
    if (req.method === 'POST' && result) return this.resultScript.shift() ?? this.result(req, decodeURIComponent(result[1] ?? ''));
    return error(404, 'not_found');
  }

  private enroll(req: RecordedRequest): Reply {
    const body = req.body as { token?: unknown; facts?: unknown } | undefined;
    if (body?.token !== this.token) return error(401, 'unauthorized');
    const agentId = newId();
    const apiKey = `fla_${agentId}_${randomBytes(32).toString('base64url')}`;
    this.agents.set(agentId, { apiKey, kid: 1, lastSeq: 0, lastResultSeq: 0, outbox: [] });
    return {
      status: 201,
      body: {
        agentId,
        apiKey,
        kid: 1,
        sealingKey: Buffer.from(this.keyOf(agentId, 1)).toString('base64url'),
        commandPublicKey: this.signer.publicKeyRaw,
        intervalSeconds: this.intervalSeconds,
      },
    };
  }

  private authorized(req: RecordedRequest): { agentId: string; agent: FakeAgent } | null {
    const agentId = /^Bearer fla_([^_]+)_/.exec(req.authorization ?? '')?.[1];
    const agent = agentId ? this.agents.get(agentId) : undefined;
    if (!agentId || !agent || req.authorization !== `Bearer ${agent.apiKey}`) return null;
    return { agentId, agent };
  }

  private result(req: RecordedRequest, commandId: string): Reply {
    const auth = this.authorized(req);
    if (!auth) return error(401, 'unauthorized');
    const { agentId, agent } = auth;
    if (!isSealedEnvelope(req.body, MAX_RESULT_PLAINTEXT_BYTES)) return error(400, 'seal_invalid');
    const env = req.body;
    const plaintext = openEnvelope(this.keyOf(agentId, env.kid), env, resultAad(agentId, env.kid, env.ts, env.seq, commandId), MAX_RESULT_PLAINTEXT_BYTES);
    if (!plaintext) return error(400, 'seal_invalid');
    if (env.seq <= agent.lastResultSeq) return error(409, 'replay');
    const result = parseCommandResult(JSON.parse(Buffer.from(plaintext).toString('utf8')));
    if (!result) return error(400, 'invalid_body');
    agent.lastResultSeq = env.seq;
    if (this.results.some((r) => r.commandId === commandId && FINAL.has(r.result.status))) return error(409, 'command_finished');
    this.results.push({ agentId, commandId, seq: env.seq, result });
    return { status: 200, body: { ok: true } };
  }

  private report(req: RecordedRequest): Reply {
    const auth = this.authorized(req);
    if (!auth) return error(401, 'unauthorized');
    const { agentId, agent } = auth;
    if (!isSealedEnvelope(req.body)) return error(400, 'seal_required');
    const env = req.body;
    if (env.kid > agent.kid || env.kid < agent.kid - 1) return error(400, 'seal_invalid');
    const plaintext = openEnvelope(this.keyOf(agentId, env.kid), env, reportAad(agentId, env.kid, env.ts, env.seq));
    if (!plaintext) return error(400, 'seal_invalid');
    if (Math.abs(env.ts - this.clock.nowMs()) > WINDOW_MS) return error(400, 'stale_timestamp');
    if (env.seq <= agent.lastSeq) return error(409, 'replay');
    const parsed = JSON.parse(Buffer.from(plaintext).toString('utf8')) as { reports?: unknown[] };
    if (!Array.isArray(parsed.reports) || parsed.reports.length < 1 || parsed.reports.length > 100) return error(400, 'invalid_body');
    agent.lastSeq = env.seq;
    this.opened.push({ agentId, envelope: env, reports: parsed.reports });
    const commands = [...this.commands, ...agent.outbox.splice(0)];
    const answer: Record<string, unknown> = { accepted: parsed.reports.length, commands, intervalSeconds: this.intervalSeconds };
    if (env.kid < agent.kid) answer.rekey = sealRekey(this.keyOf(agentId, env.kid), agentId, agent.kid, this.keyOf(agentId, agent.kid));
    return { status: 200, body: answer };
  }
}

export function error(status: number, code: string, headers?: Record<string, string>): Reply {
  return { status, body: { error: { code, message: code } }, headers };
}

/** A self-signed certificate naming only `dnsName`: connecting by IP fails a host-name check. */
export async function certificateFor(dnsName: string): Promise<ServerCertificate> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomBytes(8).toString('hex').replace(/^./, '1'),
      name: `CN=${dnsName}`,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
      keys,
      signingAlgorithm: alg,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: dnsName }])],
    },
    webcrypto,
  );
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
  const certPem = cert.toString('pem') + '\n';
  return { certPem, keyPem, fingerprint: fingerprintOf(certPem), notAfterMs: Date.now() + 86_400_000, selfSigned: true };
}

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentTransport, TransportError } from '../../src/agent/transport.js';
import { readCaFile, TrustError } from '../../src/agent/trust.js';
import { systemClock } from '../../src/lib/clock.js';
import { ensureSelfSigned, type ServerCertificate } from '../../src/server/tls.js';
import { certificateFor, FakeAgentServer } from './fake-server.js';

let root: string;
let server: FakeAgentServer;
let other: ServerCertificate;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'flotilla-agent-transport-'));
  server = await FakeAgentServer.start();
  other = await ensureSelfSigned({ dir: join(root, 'other'), names: [], clock: systemClock });
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

const failure = (p: Promise<unknown>) => p.then(() => null, (err: unknown) => err);

describe('agent transport trust', () => {
  it('connects when the pin matches the server certificate', async () => {
    const t = new AgentTransport(server.url, { kind: 'pin', fingerprint: server.cert.fingerprint });
    try {
      const reply = await t.post('/nowhere', {});
      expect(reply.status).toBe(404);
      expect(reply.dateMs).toEqual(expect.any(Number));
    } finally {
      t.close();
    }
  });

  it('refuses a wrong pin before sending anything', async () => {
    const before = server.requests.length;
    const t = new AgentTransport(server.url, { kind: 'pin', fingerprint: other.fingerprint });
    const err = await failure(t.post('/api/agent/report', { secret: 'nope' }, 'fla_x_y'));
    t.close();
    expect(err).toBeInstanceOf(TransportError);
    expect((err as TransportError).kind).toBe('pin_mismatch');
    expect((err as Error).message).toContain(server.cert.fingerprint);
    expect(server.requests.length).toBe(before);
  });

  it('refuses a self-signed server without a pin or CA: never insecure', async () => {
    const before = server.requests.length;
    const t = new AgentTransport(server.url, { kind: 'system' });
    const err = await failure(t.post('/api/agent/enroll', { token: 'fle_x' }));
    t.close();
    expect((err as TransportError).kind).toBe('tls');
    expect(server.requests.length).toBe(before);
  });

  it('trusts a given CA file, and still checks the host name under it', async () => {
    const caFile = join(root, 'ca.pem');
    await writeFile(caFile, server.cert.certPem);
    const t = new AgentTransport(server.url, { kind: 'ca', caPem: await readCaFile(caFile) });
    expect((await t.post('/nowhere', {})).status).toBe(404);
    t.close();

    const wrongCa = new AgentTransport(server.url, { kind: 'ca', caPem: other.certPem });
    expect(((await failure(wrongCa.post('/nowhere', {}))) as TransportError).kind).toBe('tls');
    wrongCa.close();

    await writeFile(join(root, 'junk.pem'), 'not a certificate');
    await expect(readCaFile(join(root, 'junk.pem'))).rejects.toThrow(TrustError);
    await expect(readCaFile(join(root, 'missing.pem'))).rejects.toThrow(/ENOENT/);
  });

  it('ignores the host name under a pin, but not under a CA', async () => {
    const elsewhere = await FakeAgentServer.start({ cert: await certificateFor('elsewhere.example.test') });
    try {
      const pinned = new AgentTransport(elsewhere.url, { kind: 'pin', fingerprint: elsewhere.cert.fingerprint });
      expect((await pinned.post('/nowhere', {})).status).toBe(404);
      pinned.close();
      const byCa = new AgentTransport(elsewhere.url, { kind: 'ca', caPem: elsewhere.cert.certPem });
      const err = await failure(byCa.post('/nowhere', {}));
      byCa.close();
      expect((err as TransportError).kind).toBe('tls');
      expect((err as Error).message).toMatch(/ALTNAME|HOSTNAME|IP/i);
    } finally {
      await elsewhere.close();
    }
  });

  it('refuses once the server switches to a certificate that does not match the pin', async () => {
    const moving = await FakeAgentServer.start();
    const t = new AgentTransport(moving.url, { kind: 'pin', fingerprint: moving.cert.fingerprint });
    try {
      expect((await t.post('/nowhere', {})).status).toBe(404);
      moving.useCertificate(other);
      const first = await failure(t.post('/nowhere', {}));
      expect(first).toBeInstanceOf(TransportError);
      // Next attempt probes again and names the mismatch.
      const second = await failure(t.post('/nowhere', {}));
      expect((second as TransportError).kind).toBe('pin_mismatch');
      expect(moving.requests.length).toBe(1);
    } finally {
      t.close();
      await moving.close();
    }
  });

  it('only speaks https and refuses URLs carrying credentials', () => {
    expect(() => new AgentTransport('http://127.0.0.1:1', { kind: 'system' })).toThrow(/https/);
    expect(() => new AgentTransport('https://user:pw@127.0.0.1:1', { kind: 'system' })).toThrow(/credentials/);
    expect(() => new AgentTransport('not a url', { kind: 'system' })).toThrow(TransportError);
  });

  it('reports an unreachable server as a network failure', async () => {
    const closed = await FakeAgentServer.start();
    const url = closed.url;
    await closed.close();
    const t = new AgentTransport(url, { kind: 'ca', caPem: closed.cert.certPem });
    expect(((await failure(t.post('/x', {}))) as TransportError).kind).toBe('network');
    t.close();
  });
});

import { randomUUID } from 'node:crypto';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpsClient, Reply } from '../harness/client.js';
import { startTestServer, STRONG_PASSWORD, type TestServer } from '../harness/server.js';
import { createEnrollmentToken, enroll, facts, report, send } from '../fleet/agent-sim.js';
import { claimsOf, createUser, enrollTotp, PERIMETER_RELAXED } from './mfa-helpers.js';

type Schema = Record<string, unknown>;
type Operation = { parameters?: Array<{ in: string; name: string }>; responses?: Record<string, { content?: Record<string, { schema?: Schema }> }> };

/** Routes whose 200 is not JSON; they have their own tests (decoy-stream, below). */
const NOT_JSON = new Set(['/api/fleet/events', '/api/admin/audit/export']);

/**
 * The key structure of a value as far as its response schema declares one:
 * objects by their keys, arrays by the merged shape of their elements. Parts
 * the schema leaves free-form (an audit entry's before/after) are leaves.
 */
function shapeOf(value: unknown, schema: Schema | undefined): unknown {
  if (value === null || schema === undefined) return 'leaf';
  const branches = (schema['anyOf'] ?? schema['oneOf']) as Schema[] | undefined;
  if (Array.isArray(branches)) {
    const typed = branches.find((b) => (Array.isArray(value) ? b['type'] === 'array' : typeof value === 'object' ? b['type'] === 'object' : false));
    return typed ? shapeOf(value, typed) : 'leaf';
  }
  if (Array.isArray(value)) {
    const items = schema['items'] as Schema | undefined;
    return { '[]': value.map((v) => shapeOf(v, items)).reduce(mergeShapes, undefined) ?? 'empty' };
  }
  if (typeof value === 'object' && schema['properties']) {
    const props = schema['properties'] as Record<string, Schema>;
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b));
    return Object.fromEntries(entries.map(([k, v]) => [k, shapeOf(v, props[k])]));
  }
  return 'leaf';
}

/** The union of two element shapes: an array's elements by all the keys any of them has. */
function mergeShapes(a: unknown, b: unknown): unknown {
  if (a === undefined || a === 'leaf') return b;
  if (b === undefined || b === 'leaf' || typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return a;
  const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
  for (const [k, v] of Object.entries(b as Record<string, unknown>)) out[k] = mergeShapes(out[k], v);
  return Object.fromEntries(Object.entries(out).sort(([x], [y]) => x.localeCompare(y)));
}

/** Array shapes compare only where both sides have elements: an empty list says nothing about its items. */
function compareShapes(real: unknown, decoy: unknown, path: string, out: string[]): void {
  if (typeof real !== 'object' || typeof decoy !== 'object' || real === null || decoy === null) {
    if (real !== 'leaf' && decoy !== 'leaf' && JSON.stringify(real) !== JSON.stringify(decoy)) out.push(`${path}: ${JSON.stringify(real)} vs ${JSON.stringify(decoy)}`);
    return;
  }
  const r = real as Record<string, unknown>;
  const d = decoy as Record<string, unknown>;
  if ('[]' in r || '[]' in d) {
    if (r['[]'] === 'empty' || d['[]'] === 'empty') return;
    compareShapes(r['[]'], d['[]'], `${path}[]`, out);
    return;
  }
  const keys = (o: Record<string, unknown>) => Object.keys(o).sort().join(',');
  if (keys(r) !== keys(d)) out.push(`${path}: keys {${keys(r)}} vs {${keys(d)}}`);
  for (const k of Object.keys(r)) if (k in d) compareShapes(r[k], d[k], `${path}.${k}`, out);
}

/** A role's real user and decoy, both signed in the way that role signs in. */
interface Pair {
  role: 'admin' | 'operator';
  real: HttpsClient;
  decoy: HttpsClient;
}

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats.default(ajv);

describe('a decoy session reads like a real one', () => {
  let t: TestServer;
  const pairs: Pair[] = [];
  let openapi: { paths: Record<string, Record<string, Operation>> };

  beforeAll(async () => {
    t = await startTestServer({ env: { ...PERIMETER_RELAXED, FLOTILLA_SECURITY_REQUIRE_MFA_FOR_ADMINS: 'true' } });
    const admin = t.client();
    await admin.post('/api/auth/login', { username: 'admin', password: t.adminPassword });
    await admin.send('POST', '/api/me/password', { currentPassword: t.adminPassword, newPassword: STRONG_PASSWORD });
    await enrollTotp(admin, t.server.services.clock);
    expect(claimsOf(admin).amr).toEqual(['pwd', 'otp', 'mfa']);
    const operator = await createUser(t, admin, 'ops-anna', 'operator', 'Operator-Password-7');

    // Something to read: an agent that has reported, with its token.
    const { token } = await createEnrollmentToken(admin, { maxUses: 2, note: 'parity' });
    // Facts as the agent collects them on a server (src/agent/collect.ts).
    const serverFacts = facts({
      hostname: 'parity-host',
      cpuModel: 'AMD EPYC 7763',
      disks: [{ name: 'sda', model: 'QEMU HARDDISK', type: 'HD', sizeBytes: 2 ** 37 }],
      interfaces: [{ name: 'eth0', mac: '52:54:00:12:34:56', addresses: ['10.0.0.5'] }],
    });
    const agent = await enroll(t.client(), token, serverFacts);
    expect((await send(t.client(), agent, [report(Date.now())], Date.now())).status).toBe(200);

    pairs.push({ role: 'admin', real: admin, decoy: await decoyLogin(t, 'admin_backup') });
    pairs.push({ role: 'operator', real: operator.client, decoy: await decoyLogin(t, 'system_test') });
    openapi = (await t.client().get('/api/openapi.json')).json;
  });
  afterAll(async () => {
    await t?.close();
  });

  const getRoutes = () =>
    Object.entries(openapi.paths)
      .filter(([path, ops]) => ops['get'] && path.startsWith('/api/') && !NOT_JSON.has(path))
      .map(([path, ops]) => ({ path, op: ops['get'] as Operation }));

  /** A concrete URL for a templated path: ids from this client's own list route, else a random UUID. */
  async function urlFor(client: HttpsClient, path: string, listable: Set<string>): Promise<string> {
    const param = /\{([^}]+)\}/.exec(path);
    if (!param) return path;
    const prefix = path.slice(0, param.index - 1);
    let id: string = randomUUID();
    if (listable.has(prefix)) {
      const list = await client.get(prefix);
      id = (list.json?.items?.[0]?.id as string | undefined) ?? id;
    }
    return `${path.slice(0, param.index)}${id}${path.slice(param.index + param[0].length)}`.replace(/\{[^}]+\}/g, randomUUID());
  }

  it('answers every GET route in the OpenAPI document with the same status and keys as a real session', async () => {
    const routes = getRoutes();
    expect(routes.length).toBeGreaterThan(15);
    const listable = new Set(routes.map((r) => r.path));
    const mismatches: string[] = [];
    for (const { role, real, decoy } of pairs) {
      for (const { path, op } of routes) {
        const [r, d] = [await real.get(await urlFor(real, path, listable)), await decoy.get(await urlFor(decoy, path, listable))];
        const where = `${role} GET ${path}`;
        if (r.status !== d.status) {
          mismatches.push(`${where}: status ${r.status} vs ${d.status} ${d.text.slice(0, 200)}`);
          continue;
        }
        if (r.status !== 200) {
          compareShapes(shapeOf(r.json, {}), shapeOf(d.json, {}), where, mismatches);
          if (r.json?.error?.code !== d.json?.error?.code) mismatches.push(`${where}: error ${r.json?.error?.code} vs ${d.json?.error?.code}`);
          continue;
        }
        const schema = op.responses?.['200']?.content?.['application/json']?.schema;
        compareShapes(shapeOf(r.json, schema), shapeOf(d.json, schema), where, mismatches);
        // Valid, not only the right keys: formats, enums, bounds and required fields as documented.
        if (schema && !ajv.validate(schema, d.json)) mismatches.push(`${where}: invalid ${ajv.errorsText(ajv.errors)}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('takes about as long as a real read', async () => {
    const [{ real, decoy }] = pairs as [Pair];
    const machineOf = async (c: HttpsClient) => `/api/fleet/machines/${(await c.get('/api/fleet/machines')).json.items[0].id}`;
    const paths = { real: await machineOf(real), decoy: await machineOf(decoy) };
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? 0;
    for (const path of ['/api/fleet/machines', 'detail', '/api/admin/audit', '/api/admin/audit/verify', '/api/admin/users']) {
      const times = { real: [] as number[], decoy: [] as number[] };
      for (let i = 0; i < 15; i++) {
        for (const who of ['real', 'decoy'] as const) {
          const start = process.hrtime.bigint();
          expect((await (who === 'real' ? real : decoy).get(path === 'detail' ? paths[who] : path)).status).toBe(200);
          times[who].push(Number(process.hrtime.bigint() - start) / 1e6);
        }
      }
      const [r, d] = [median(times.real), median(times.decoy)];
      // A loose floor that survives a loaded machine: an answer from memory ten times faster than the database stands out.
      expect(d, `${path}: real ${r.toFixed(2)} ms, decoy ${d.toFixed(2)} ms`).toBeGreaterThan(r / 10);
    }
    // Verification claims thousands of entries; a real one of that size takes tens of milliseconds.
    const verify = await decoy.get('/api/admin/audit/verify');
    const start = process.hrtime.bigint();
    await decoy.get('/api/admin/audit/verify');
    expect(Number(process.hrtime.bigint() - start) / 1e6).toBeGreaterThan(verify.json.count * 0.02);
  });

  it('answers an unknown id with the 404 a real session gets', async () => {
    const templated = getRoutes().filter((r) => r.path.includes('{'));
    expect(templated.length).toBeGreaterThan(2);
    const [{ real, decoy }] = pairs as [Pair];
    for (const { path } of templated) {
      const url = path.replace(/\{[^}]+\}/g, randomUUID());
      const [r, d] = [await real.get(url), await decoy.get(url)];
      expect({ path, status: d.status, error: d.json?.error }).toEqual({ path, status: r.status, error: r.json?.error });
      expect(r.status, path).toBe(404);
      expect((await decoy.get(path.replace(/\{[^}]+\}/g, 'not-a-uuid'))).status, path).toBe((await real.get(path.replace(/\{[^}]+\}/g, 'not-a-uuid'))).status);
    }
  });
});

/** Signs in to a decoy name the way the server asks: with a second factor when it asks for one. */
export async function decoyLogin(t: TestServer, username: string): Promise<HttpsClient> {
  const client = t.client();
  const first: Reply = await client.post('/api/auth/login', { username, password: 'Guessed-Anything-1' });
  if (first.status !== 200) throw new Error(`decoy login: ${first.status} ${first.text}`);
  if (first.json.mfaRequired) {
    const second = await client.post('/api/auth/login/mfa', { mfaTicket: first.json.mfaTicket, code: '402913' });
    if (second.status !== 200) throw new Error(`decoy second factor: ${second.status} ${second.text}`);
  }
  return client;
}

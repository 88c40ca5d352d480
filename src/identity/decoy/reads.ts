/**
 * What a decoy session reads: a small, stable world per decoy, fabricated
 * from each route's own response schema. Lists and details agree (an id from
 * a list answers its detail and sub-resources; any other id is unknown, as
 * for a real session), and the summary, tags and audit verification agree
 * with the lists they sum up. Nothing here reads real data.
 */
import { createHmac } from 'node:crypto';
import { decodeCursor, encodeCursor } from '../../lib/cursor.js';
import { LruCache } from '../../lib/lru.js';
import type { UserView } from '../users/view.js';
import { fabricate, unit, uuidFor, type Fabrication, type JsonSchema } from './fabricate.js';

export interface DecoySessionInfo {
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  ip: string | null;
  userAgent: string | null;
  amr: string[];
}

export interface DecoyRead {
  /** The route's URL pattern, e.g. `/api/fleet/machines/:id`. */
  route: string;
  params: Record<string, string>;
  query: Record<string, unknown>;
  user: UserView;
  sessionId: string;
  amr: string[];
  now: number;
  session(): Promise<DecoySessionInfo | null>;
}

/** A fabricated body, or "no such item" in the collection at `collection` (the caller knows its error). */
export type DecoyAnswer = { body: unknown } | { notFound: string };

/** Collections that are one set of things seen from two routes: a machine is its agent. */
const SAME_ITEMS: Record<string, string> = { '/api/admin/agents': '/api/fleet/machines' };
/** Items per fabricated list; a decoy's fleet has never run a remote command, as a fresh one has not. */
const SIZES: Record<string, [number, number]> = { '/api/fleet/machines': [5, 9], '/api/admin/users': [3, 6], '/api/commands': [0, 0] };

type Item = Record<string, unknown>;

/** What a real chain verification costs per entry (about 40k entries a second on 2 cores, test/security/audit-scale). */
const VERIFY_MS_PER_ENTRY = 0.025;

export class DecoyReads {
  readonly #schemas = new Map<string, JsonSchema>();
  /** A list's items for the current second: the summary, tags and details read them again. */
  readonly #items = new LruCache<string, Item[]>(256);

  constructor(private readonly key: Uint8Array) {}

  /** Every GET route a decoy may read, with its 200 schema. */
  register(route: string, schema: unknown): void {
    if (schema && typeof schema === 'object') this.#schemas.set(route, schema as JsonSchema);
  }

  has(route: string): boolean {
    return this.#schemas.has(route);
  }

  async answer(read: DecoyRead): Promise<DecoyAnswer | undefined> {
    const schema = this.#schemas.get(read.route);
    if (!schema) return undefined;
    const parent = itemRouteOf(read.route);
    if (parent && this.#schemas.has(parent.list)) return this.#itemRead(read, parent.list, parent.sub, schema);
    const special = await this.#singleton(read, schema);
    if (special !== undefined) return { body: special };
    if (isPage(schema) && this.#hasItemRoute(read.route)) {
      const items = this.items(read.route, read).filter((item) => matches(item, read.query));
      return { body: { ...(fabricate(schema, '', this.#fab(read, read.route, 0)) as Item), items: items.slice(0, limitOf(read.query)), next: null } };
    }
    return { body: fabricate(schema, '', this.#fab(read, read.route, 0)) };
  }

  /** The fabricated items of a list route, as its list shows them. */
  items(route: string, read: Pick<DecoyRead, 'user' | 'now'>): Item[] {
    return this.#items.getOrSet(`${read.user.id}|${route}|${Math.floor(read.now / 1000)}`, () => this.#fabricateItems(route, read));
  }

  #fabricateItems(route: string, read: Pick<DecoyRead, 'user' | 'now'>): Item[] {
    const itemSchema = pageItems(this.#schemas.get(route));
    if (!itemSchema) return [];
    const collection = SAME_ITEMS[route] ?? route;
    const [low, high] = SIZES[collection] ?? [2, 5];
    const count = low + Math.floor(unit(this.#fab(read, collection, 0), 'size') * (high - low + 1));
    const items = Array.from({ length: count }, (_, n) => this.#item(read, route, collection, itemSchema, n));
    if (route === '/api/admin/users') items[0] = { ...read.user };
    return items;
  }

  /** The fleet summary, summing up the decoy's machine list. */
  summary(read: Pick<DecoyRead, 'user' | 'now'>): unknown {
    return summary(this.items('/api/fleet/machines', read));
  }

  /** A detail, or a sub-resource, of one item of `list`. */
  async #itemRead(read: DecoyRead, list: string, sub: boolean, schema: JsonSchema): Promise<DecoyAnswer> {
    const items = this.items(list, read);
    const n = items.findIndex((item) => item['id'] === read.params['id']);
    if (n < 0) return { notFound: list };
    const item = items[n] as Item;
    const f = this.#fab(read, SAME_ITEMS[list] ?? list, n);
    if (read.route.endsWith('/sessions')) return { body: await this.#sessions(read, item['id'] === read.user.id, f) };
    if (read.route.endsWith('/history')) return { body: history(schema, item, read, f) };
    if (read.route.endsWith('/commands')) return { body: { items: [], next: null } };
    if (sub) return { body: fabricate(schema, '', f) };
    // The detail repeats its list row field for field.
    const detail = fabricate(schema, '', f) as Item;
    for (const name of Object.keys(detail)) if (name in item) detail[name] = item[name];
    return { body: detail };
  }

  async #singleton(read: DecoyRead, schema: JsonSchema): Promise<unknown> {
    const f = this.#fab(read, read.route, 0);
    switch (read.route) {
      case '/api/me':
        return { user: read.user };
      case '/api/me/mfa': {
        const totp = read.amr.includes('otp');
        return { totp, backupCodesRemaining: totp ? 7 + Math.floor(unit(f, 'backup') * 4) : 0, passkeys: 0 };
      }
      case '/api/me/passkeys':
        return { items: [], next: null };
      case '/api/me/sessions':
        return this.#sessions(read, true, f);
      case '/api/fleet/summary':
        return this.summary(read);
      case '/api/fleet/tags': {
        const counts = new Map<string, number>();
        for (const m of this.items('/api/fleet/machines', read)) for (const tag of m['tags'] as string[]) counts.set(tag, (counts.get(tag) ?? 0) + 1);
        return { items: [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([tag, count]) => ({ tag, count })), next: null };
      }
      case '/api/admin/audit':
      case '/api/admin/security/events':
        return auditPage(schema, this.#auditHead(read), read, f);
      case '/api/admin/audit/verify': {
        const { count, head } = this.#auditHead(read);
        // A real verification re-hashes every entry: an instant answer for thousands would stand out.
        await new Promise((resolve) => setTimeout(resolve, count * VERIFY_MS_PER_ENTRY));
        return { ok: true, count, firstSeq: 1, lastSeq: count, head, checkpoints: Math.floor(count / 1000), signedHeadSeq: count, broken: null, message: null };
      }
      default:
        return undefined;
    }
  }

  /** The chain grows by a few entries an hour, as a fleet's does. */
  #auditHead(read: Pick<DecoyRead, 'user' | 'now'>): { count: number; head: string } {
    const f = this.#fab(read, 'audit', 0);
    const count = 1200 + Math.floor(unit(f, 'base') * 3000) + Math.floor((read.now % (30 * 86_400_000)) / 900_000);
    return { count, head: this.#auditHash(read, count) };
  }

  #auditHash(read: Pick<DecoyRead, 'user'>, seq: number): string {
    return seq < 1 ? '0'.repeat(64) : createHmac('sha256', this.key).update(`decoy-audit|${read.user.id}|${seq}`).digest('hex');
  }

  /**
   * The whole fabricated log as stored rows, oldest first, for the export:
   * the same entries the list pages through, linked into a chain ending at the head verify reports.
   */
  auditRows(read: DecoyRead) {
    const schema = pageItems(this.#schemas.get('/api/admin/audit')) ?? {};
    const chain = this.#auditHead(read);
    const f = this.#fab(read, '/api/admin/audit', 0);
    const rows = [];
    for (let seq = 1; seq <= chain.count; seq++) {
      const entry = auditEntry(schema, chain, read, f, seq);
      if (typeof read.query['action'] === 'string' && entry['action'] !== read.query['action']) continue;
      if (typeof read.query['from'] === 'number' && (entry['ts'] as number) < read.query['from']) continue;
      if (typeof read.query['to'] === 'number' && (entry['ts'] as number) > read.query['to']) continue;
      rows.push({
        ...(entry as { seq: number; ts: number; actorType: string; actorId: string | null; actorIp: string | null; action: string; resourceType: string | null; resourceId: string | null; error: string | null }),
        before: entry['before'] === null ? null : JSON.stringify(entry['before']),
        after: entry['after'] === null ? null : JSON.stringify(entry['after']),
        success: 1,
        prevHash: this.#auditHash(read, seq - 1),
        hash: this.#auditHash(read, seq),
        createdAt: entry['ts'] as number,
        updatedAt: entry['ts'] as number,
      });
    }
    return rows;
  }

  async #sessions(read: DecoyRead, own: boolean, f: Fabrication): Promise<unknown> {
    const others = Array.from({ length: own ? 1 : 2 }, (_, i) => ({
      id: uuidFor({ ...f, n: f.n * 8 + i }, 'session'),
      ip: `10.20.${f.n + 3}.${40 + i * 7}`,
      userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
      amr: read.amr.includes('mfa') ? ['pwd', 'otp', 'mfa'] : ['pwd'],
      createdAt: read.now - (read.now % 3_600_000) - (i + 1) * 26 * 3_600_000,
      lastSeenAt: read.now - (read.now % 3_600_000) - (i + 1) * 5 * 3_600_000,
      expiresAt: read.now - (read.now % 3_600_000) + (6 - i) * 86_400_000,
      current: false,
    }));
    const mine = own ? await read.session() : null;
    const current = mine
      ? [{ id: read.sessionId, ip: mine.ip, userAgent: mine.userAgent, amr: mine.amr, createdAt: mine.createdAt, lastSeenAt: mine.lastSeenAt, expiresAt: mine.expiresAt, current: true }]
      : [];
    return { items: [...current, ...others], next: null };
  }

  #item(read: Pick<DecoyRead, 'user' | 'now'>, route: string, collection: string, schema: JsonSchema, n: number): Item {
    const f = this.#fab(read, collection, n);
    return { ...(fabricate(schema, 'item', f) as Item), id: uuidFor(f, 'id') };
  }

  #hasItemRoute(route: string): boolean {
    return this.#schemas.has(`${route}/:id`) || route in SAME_ITEMS || SIZES[route] !== undefined;
  }

  #fab(read: Pick<DecoyRead, 'user' | 'now'>, collection: string, n: number): Fabrication {
    return { seed: createHmac('sha256', this.key).update(`decoy-world|${read.user.id}|${collection}`).digest('hex'), n, now: read.now };
  }
}

/** `/api/x/:id` and `/api/x/:id/y` are routes of one item of the list `/api/x`. */
export function itemRouteOf(route: string): { list: string; sub: boolean } | null {
  const at = route.indexOf('/:id');
  if (at <= 0) return null;
  const rest = route.slice(at + 4);
  if (rest !== '' && !rest.startsWith('/')) return null;
  return { list: route.slice(0, at), sub: rest !== '' };
}

function isPage(schema: JsonSchema): boolean {
  return pageItems(schema) !== undefined;
}

function pageItems(schema: JsonSchema | undefined): JsonSchema | undefined {
  const items = (schema?.['properties'] as Record<string, JsonSchema> | undefined)?.['items'];
  return items?.['type'] === 'array' ? (items['items'] as JsonSchema | undefined) : undefined;
}

const limitOf = (query: Record<string, unknown>) => (typeof query['limit'] === 'number' ? query['limit'] : 50);

/** The list filters a real list applies, on the fields they name. */
function matches(item: Item, query: Record<string, unknown>): boolean {
  for (const field of ['status', 'os', 'role'] as const) if (typeof query[field] === 'string' && field in item && item[field] !== query[field]) return false;
  if (typeof query['tag'] === 'string' && Array.isArray(item['tags']) && !item['tags'].includes(query['tag'])) return false;
  if (typeof query['search'] === 'string' && typeof item['hostname'] === 'string' && !item['hostname'].includes(query['search'])) return false;
  return true;
}

function summary(machines: Item[]): unknown {
  const count = (status: string) => machines.filter((m) => m['status'] === status).length;
  const live = machines.filter((m) => m['status'] === 'online' || m['status'] === 'warning');
  const mean = (field: string) => {
    const values = live.map((m) => m[field]).filter((v): v is number => typeof v === 'number');
    return values.length === 0 ? null : Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 10) / 10;
  };
  return {
    total: machines.length,
    online: count('online'),
    warning: count('warning'),
    offline: count('offline'),
    decommissioned: count('decommissioned'),
    averages: { cpu: mean('cpu'), memory: mean('memory'), disk: mean('disk') },
  };
}

function history(schema: JsonSchema, machine: Item, read: DecoyRead, f: Fabrication): unknown {
  const to = typeof read.query['to'] === 'number' ? read.query['to'] : read.now;
  const from = typeof read.query['from'] === 'number' ? read.query['from'] : to - 3_600_000;
  const metric = typeof read.query['metric'] === 'string' ? read.query['metric'] : 'cpu';
  const base = fabricate(schema, '', f) as Item;
  const step = Math.max(60_000, Math.floor((to - from) / 60));
  const points = [];
  for (let t = from - (from % step) + step; t <= to && points.length < 60; t += step) {
    const avg = Math.round((10 + unit({ ...f, n: t }, metric) * 40) * 10) / 10;
    points.push({ t, avg, max: Math.round((avg + unit({ ...f, n: t }, 'max') * 20) * 10) / 10 });
  }
  return { ...base, machineId: machine['id'], metric, resolution: typeof read.query['resolution'] === 'string' ? read.query['resolution'] : 'raw', from, to, points, truncated: false };
}

function auditEntry(itemSchema: JsonSchema, chain: { count: number }, read: Pick<DecoyRead, 'now'>, f: Fabrication, seq: number): Item {
  const minute = read.now - (read.now % 60_000);
  const entry = fabricate(itemSchema, 'item', { ...f, n: seq }) as Item;
  return { ...entry, seq, ts: minute - (chain.count - seq) * 13 * 60_000, success: true, error: null };
}

/** Newest first, paged by the last seq like the real list; the chain's first entry ends it. */
function auditPage(schema: JsonSchema, chain: { count: number }, read: DecoyRead, f: Fabrication): unknown {
  const itemSchema = pageItems(schema);
  const page = fabricate(schema, '', f) as Item;
  if (!itemSchema) return page;
  const limit = limitOf(read.query);
  const after = Number(decodeCursor(typeof read.query['cursor'] === 'string' ? read.query['cursor'] : undefined) ?? chain.count + 1);
  const top = Number.isInteger(after) && after > 0 ? Math.min(after - 1, chain.count) : chain.count;
  const items = Array.from({ length: Math.min(limit, top) }, (_, i) => auditEntry(itemSchema, chain, read, f, top - i));
  const last = items.at(-1);
  return { ...page, items, next: last && (last['seq'] as number) > 1 ? encodeCursor(String(last['seq'])) : null };
}

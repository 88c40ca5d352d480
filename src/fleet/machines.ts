import { createHash } from 'node:crypto';
import { sql, type Kysely, type RawBuilder, type SqlBool } from 'kysely';
import type { Clock } from '../lib/clock.js';
import { decodeCursor, encodeCursor, type Page } from '../lib/cursor.js';
import { isId } from '../lib/ids.js';
import type { AgentsTable, Database, MachinesTable } from '../store/sql/tables.js';
import { fleetError } from './errors.js';
import type { Facts } from '../protocol/report.js';
import type { LatestReport, MachineDetail, MachineListRow, MachineSummary } from './machine-view.js';
import { machineStatus, statusCondition, type MachineStatus } from './status.js';
import { canonicalJson } from '../protocol/canonical.js';


export const MACHINE_SORTS = ['hostname', 'lastSeen', 'cpu', 'memory'] as const;
export type MachineSort = (typeof MACHINE_SORTS)[number];

export type { LatestReport, MachineDetail, MachineListRow, MachineSummary } from './machine-view.js';

export interface MachineQuery {
  search?: string;
  status?: MachineStatus;
  os?: string;
  tag?: string;
  /** A sort name, `-` in front for descending. */
  sort?: string;
  limit: number;
  cursor?: string;
}

/** Facts as stored: canonical JSON (RFC 8785), so the same facts always hash the same. */
export function factsRecord(facts: Facts): { facts: string; factsHash: string } {
  const text = canonicalJson(facts);
  return { facts: text, factsHash: createHash('sha256').update(text, 'utf8').digest('hex') };
}

/** The columns a machine's facts set. */
export function factColumns(facts: Facts): Pick<MachinesTable, 'hostname' | 'os' | 'platform' | 'arch' | 'serial' | 'agentVersion' | 'facts' | 'factsHash'> {
  return {
    hostname: facts.hostname,
    os: facts.os,
    platform: facts.platform,
    arch: facts.arch,
    serial: facts.serial ?? null,
    agentVersion: facts.agentVersion ?? null,
    ...factsRecord(facts),
  };
}

export function newMachineRow(id: string, facts: Facts, now: number): MachinesTable {
  return {
    id,
    ...factColumns(facts),
    lastSeenAt: null,
    lastCollectedAt: null,
    cpu: null,
    mem: null,
    swap: null,
    disk: null,
    netRx: null,
    netTx: null,
    load1: null,
    netRxTotal: null,
    netTxTotal: null,
    latest: null,
    decommissionedAt: null,
    createdAt: now,
    updatedAt: now,
  };
}

/** Makes `%`, `_` and `\` match themselves in a LIKE pattern (used with ESCAPE '\'). */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

const LIST_COLUMNS = [
  'm.id',
  'm.hostname',
  'm.os',
  'm.platform',
  'm.arch',
  'm.serial',
  'm.agentVersion',
  'm.lastSeenAt',
  'm.decommissionedAt',
  'm.cpu',
  'm.mem',
  'm.swap',
  'm.disk',
  'm.netRx',
  'm.netTx',
  'm.load1',
  'a.intervalSeconds',
  'a.enrolledAt',
] as const;

interface Cursor {
  sort: MachineSort;
  desc: boolean;
  key: string | number;
  id: string;
}

function parseSort(sort: string | undefined): { sort: MachineSort; desc: boolean } {
  const value = sort ?? 'hostname';
  const desc = value.startsWith('-');
  const name = desc ? value.slice(1) : value;
  if (!(MACHINE_SORTS as readonly string[]).includes(name)) throw fleetError('invalid_query', { message: `sort must be one of ${MACHINE_SORTS.join(', ')}, optionally prefixed by -` });
  return { sort: name as MachineSort, desc };
}

function parseCursor(text: string | undefined, sort: MachineSort, desc: boolean): Cursor | null {
  if (text === undefined) return null;
  const decoded = decodeCursor(text);
  let value: unknown;
  try {
    value = decoded === null ? null : JSON.parse(decoded);
  } catch {
    value = null;
  }
  const c = value as Partial<Cursor> | null;
  const keyOk = sort === 'hostname' ? typeof c?.key === 'string' : typeof c?.key === 'number' && Number.isFinite(c.key);
  if (!c || c.sort !== sort || c.desc !== desc || !keyOk || typeof c.id !== 'string' || !isId(c.id)) throw fleetError('invalid_cursor');
  return c as Cursor;
}

/** Sort keys never null, so keyset pagination can compare them: a missing value sorts as -1. */
function sortExpression(sort: MachineSort): RawBuilder<string | number> {
  switch (sort) {
    case 'hostname':
      return sql<string>`${sql.ref('m.hostname')}`;
    case 'lastSeen':
      return sql<number>`coalesce(${sql.ref('m.lastSeenAt')}, -1)`;
    case 'cpu':
      return sql<number>`coalesce(${sql.ref('m.cpu')}, -1)`;
    case 'memory':
      return sql<number>`coalesce(${sql.ref('m.mem')}, -1)`;
  }
}

/** The columns LIST_COLUMNS selects. */
type ListRecord = Pick<MachinesTable, 'id' | 'hostname' | 'os' | 'platform' | 'arch' | 'serial' | 'agentVersion' | 'lastSeenAt' | 'decommissionedAt' | 'cpu' | 'mem' | 'swap' | 'disk' | 'netRx' | 'netTx' | 'load1'> &
  Pick<AgentsTable, 'intervalSeconds' | 'enrolledAt'>;

function toListRow(r: ListRecord, tags: string[], now: number): MachineListRow {
  return {
    id: r.id,
    hostname: r.hostname,
    os: r.os,
    platform: r.platform,
    arch: r.arch,
    serial: r.serial,
    agentVersion: r.agentVersion,
    status: machineStatus(r, now),
    intervalSeconds: r.intervalSeconds,
    enrolledAt: r.enrolledAt,
    lastSeenAt: r.lastSeenAt,
    decommissionedAt: r.decommissionedAt,
    cpu: r.cpu,
    memory: r.mem,
    swap: r.swap,
    disk: r.disk,
    netRx: r.netRx,
    netTx: r.netTx,
    load1: r.load1,
    tags,
  };
}

const MAX_TAGS_LISTED = 1000;

/** Reads of the machine inventory: list, detail, tags and the fleet summary. */
export class MachineService {
  constructor(private readonly deps: { db: Kysely<Database>; clock: Clock }) {}

  private base() {
    return this.deps.db.selectFrom('machines as m').innerJoin('agents as a', 'a.id', 'm.id').select(LIST_COLUMNS);
  }

  async list(q: MachineQuery): Promise<Page<MachineListRow>> {
    const now = this.deps.clock.nowMs();
    const { sort, desc } = parseSort(q.sort);
    const cursor = parseCursor(q.cursor, sort, desc);
    const key = sortExpression(sort);
    const dir = desc ? 'desc' : 'asc';
    let query = this.base().select(key.as('sortKey')).orderBy(key, dir).orderBy('m.id', dir).limit(q.limit + 1);
    if (q.search !== undefined && q.search !== '') {
      query = query.where(sql<SqlBool>`lower(${sql.ref('m.hostname')}) like lower(${`%${escapeLike(q.search)}%`}) escape '\\'`);
    }
    if (q.status !== undefined) query = query.where(statusCondition(q.status, now));
    if (q.os !== undefined) query = query.where('m.os', '=', q.os);
    if (q.tag !== undefined) {
      const tag = q.tag;
      query = query.where((eb) => eb.exists(eb.selectFrom('machineTags as t').select('t.tag').whereRef('t.machineId', '=', 'm.id').where('t.tag', '=', tag)));
    }
    if (cursor) {
      const op = desc ? '<' : '>';
      query = query.where((eb) => eb.or([eb(key, op, cursor.key), eb.and([eb(key, '=', cursor.key), eb('m.id', op, cursor.id)])]));
    }
    const rows = await query.execute();
    const page = rows.slice(0, q.limit);
    const tags = await this.tagsOf(page.map((r) => r.id));
    const last = page[page.length - 1];
    const next = rows.length > q.limit && last ? encodeCursor(JSON.stringify({ sort, desc, key: last.sortKey, id: last.id } satisfies Cursor)) : null;
    return { items: page.map((r) => toListRow(r, tags.get(r.id) ?? [], now)), next };
  }

  /** The list-row shape of one machine, or null when it does not exist. */
  async row(id: string): Promise<MachineListRow | null> {
    const r = await this.base().where('m.id', '=', id).executeTakeFirst();
    if (!r) return null;
    return toListRow(r, (await this.tagsOf([id])).get(id) ?? [], this.deps.clock.nowMs());
  }

  async detail(id: string): Promise<MachineDetail> {
    const r = await this.base().select(['m.facts', 'm.latest', 'm.lastCollectedAt']).where('m.id', '=', id).executeTakeFirst();
    if (!r) throw fleetError('machine_not_found');
    const tags = (await this.tagsOf([id])).get(id) ?? [];
    return {
      ...toListRow(r, tags, this.deps.clock.nowMs()),
      facts: JSON.parse(r.facts) as Facts,
      lastCollectedAt: r.lastCollectedAt,
      latest: r.latest === null ? null : (JSON.parse(r.latest) as LatestReport),
    };
  }

  /** Replaces a machine's tags with the given set. */
  async setTags(id: string, tags: string[]): Promise<string[]> {
    const now = this.deps.clock.nowMs();
    const unique = [...new Set(tags)].sort();
    await this.deps.db.transaction().execute(async (trx) => {
      const found = await trx.selectFrom('machines').select('id').where('id', '=', id).executeTakeFirst();
      if (!found) throw fleetError('machine_not_found');
      await trx.deleteFrom('machineTags').where('machineId', '=', id).execute();
      if (unique.length > 0) await trx.insertInto('machineTags').values(unique.map((tag) => ({ machineId: id, tag, createdAt: now, updatedAt: now }))).execute();
    });
    return unique;
  }

  /** Every tag in use with how many machines carry it (at most 1000, alphabetical). */
  async listTags(): Promise<Array<{ tag: string; count: number }>> {
    const rows = await this.deps.db
      .selectFrom('machineTags')
      .select((eb) => ['tag', eb.fn.countAll<number>().as('count')])
      .groupBy('tag')
      .orderBy('tag')
      .limit(MAX_TAGS_LISTED)
      .execute();
    return rows.map((r) => ({ tag: r.tag, count: Number(r.count) }));
  }

  async summary(): Promise<MachineSummary> {
    const now = this.deps.clock.nowMs();
    const count = (status: MachineStatus) => sql<number | null>`sum(case when ${statusCondition(status, now)} then 1 else 0 end)`;
    const live = sql`(${statusCondition('online', now)} or ${statusCondition('warning', now)})`;
    const mean = (column: 'm.cpu' | 'm.mem' | 'm.disk') => sql<number | null>`avg(case when ${live} then ${sql.ref(column)} end)`;
    const r = await this.deps.db
      .selectFrom('machines as m')
      .innerJoin('agents as a', 'a.id', 'm.id')
      .select((eb) => [
        eb.fn.countAll<number>().as('total'),
        count('online').as('online'),
        count('warning').as('warning'),
        count('offline').as('offline'),
        count('decommissioned').as('decommissioned'),
        mean('m.cpu').as('cpu'),
        mean('m.mem').as('memory'),
        mean('m.disk').as('disk'),
      ])
      .executeTakeFirstOrThrow();
    const num = (v: number | string | null) => (v === null ? null : Number(v));
    return {
      total: Number(r.total),
      online: Number(r.online ?? 0),
      warning: Number(r.warning ?? 0),
      offline: Number(r.offline ?? 0),
      decommissioned: Number(r.decommissioned ?? 0),
      averages: { cpu: num(r.cpu), memory: num(r.memory), disk: num(r.disk) },
    };
  }

  private async tagsOf(ids: string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (ids.length === 0) return out;
    const rows = await this.deps.db.selectFrom('machineTags').select(['machineId', 'tag']).where('machineId', 'in', ids).orderBy('machineId').orderBy('tag').execute();
    for (const r of rows) out.set(r.machineId, [...(out.get(r.machineId) ?? []), r.tag]);
    return out;
  }
}

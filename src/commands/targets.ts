import type { Kysely } from 'kysely';
import type { Database } from '../store/sql/tables.js';
import { commandError } from './errors.js';

export type Target = { machines: string[] } | { tag: string };

export function targetText(target: Target): string {
  return JSON.stringify('tag' in target ? { tag: target.tag } : { machines: [...new Set(target.machines)] });
}

export function parseTarget(text: string): Target {
  return JSON.parse(text) as Target;
}

/**
 * The machines a command goes to now: the listed ones that exist and are
 * neither revoked nor decommissioned, or every such machine with the tag.
 * `strict` (at request time) refuses an id that names no machine at all.
 */
export async function resolveTargets(db: Kysely<Database>, target: Target, opts: { strict: boolean; max: number }): Promise<string[]> {
  let query = db
    .selectFrom('machines as m')
    .innerJoin('agents as a', 'a.id', 'm.id')
    .select(['m.id', 'm.decommissionedAt', 'a.revokedAt']);
  if ('tag' in target) {
    query = query.innerJoin('machineTags as t', 't.machineId', 'm.id').where('t.tag', '=', target.tag);
  } else {
    if (target.machines.length === 0) throw commandError('no_targets');
    if (target.machines.length > opts.max) throw commandError('too_many_targets');
    query = query.where('m.id', 'in', target.machines);
  }
  const rows = await query.orderBy('m.id').limit(opts.max + 1).execute();
  if ('machines' in target && opts.strict) {
    const found = new Set(rows.map((r) => r.id));
    if (target.machines.some((id) => !found.has(id))) throw commandError('machine_not_found');
  }
  const active = rows.filter((r) => r.decommissionedAt === null && r.revokedAt === null).map((r) => r.id);
  if (active.length > opts.max) throw commandError('too_many_targets');
  return active;
}

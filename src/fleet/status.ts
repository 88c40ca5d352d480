import { sql, type RawBuilder } from 'kysely';

/**
 * Machine status (docs/api.md), computed at read time from the last report
 * and the agent's own interval, so nothing has to write "offline" anywhere.
 * A report is due one interval after the last; "one interval late" means no
 * report for two intervals, "three intervals late" none for four.
 */
export const MACHINE_STATUSES = ['online', 'warning', 'offline', 'decommissioned'] as const;
export type MachineStatus = (typeof MACHINE_STATUSES)[number];

export const WARNING_AFTER_INTERVALS = 2;
export const OFFLINE_AFTER_INTERVALS = 4;

export function machineStatus(m: { lastSeenAt: number | null; intervalSeconds: number; decommissionedAt: number | null }, now: number): MachineStatus {
  if (m.decommissionedAt !== null) return 'decommissioned';
  if (m.lastSeenAt === null) return 'offline';
  const age = now - m.lastSeenAt;
  if (age >= OFFLINE_AFTER_INTERVALS * m.intervalSeconds * 1000) return 'offline';
  if (age >= WARNING_AFTER_INTERVALS * m.intervalSeconds * 1000) return 'warning';
  return 'online';
}

/** A millisecond parameter typed for PostgreSQL, which would otherwise guess int4 for it. */
export const msParam = (ms: number): RawBuilder<number> => sql<number>`cast(${ms} as bigint)`;

/**
 * The same rule as machineStatus, as SQL over `m` (machines) joined with `a`
 * (agents), for filtering and counting without reading every row into memory.
 */
export function statusCondition(status: MachineStatus, now: number): RawBuilder<boolean> {
  const seen = sql.ref('m.lastSeenAt');
  const interval = sql.ref('a.intervalSeconds');
  const live = sql`${sql.ref('m.decommissionedAt')} is null`;
  const warnAt = sql`${msParam(now)} - ${WARNING_AFTER_INTERVALS * 1000} * ${interval}`;
  const offAt = sql`${msParam(now)} - ${OFFLINE_AFTER_INTERVALS * 1000} * ${interval}`;
  switch (status) {
    case 'decommissioned':
      return sql<boolean>`${sql.ref('m.decommissionedAt')} is not null`;
    case 'online':
      return sql<boolean>`(${live} and ${seen} > ${warnAt})`;
    case 'warning':
      return sql<boolean>`(${live} and ${seen} <= ${warnAt} and ${seen} > ${offAt})`;
    case 'offline':
      return sql<boolean>`(${live} and (${seen} is null or ${seen} <= ${offAt}))`;
  }
}

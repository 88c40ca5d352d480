import type { Kysely } from 'kysely';
import type { Database } from '../../store/sql/tables.js';
import { rowScalars, type AuditRow } from './entry.js';
import { batchesInOrder, type AuditFilter } from './query.js';

export type ExportFormat = 'csv' | 'json';

const EXPORT_BATCH = 1000;
const COLUMNS = ['seq', 'ts', 'time', 'actorType', 'actorId', 'actorIp', 'action', 'resourceType', 'resourceId', 'success', 'error', 'before', 'after', 'prevHash', 'hash'] as const;

/**
 * One CSV cell. A spreadsheet runs a cell that starts with = + - @ (or a tab
 * or carriage return, which some strip first) as a formula, so such a cell is
 * prefixed with ' ; then every cell is quoted with quotes doubled.
 */
export function csvCell(value: string | number | boolean | null): string {
  let text = value === null ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return `"${text.replaceAll('"', '""')}"`;
}

function csvLine(row: AuditRow): string {
  const cells: Record<(typeof COLUMNS)[number], string | number | boolean | null> = Object.assign(rowScalars(row), {
    time: new Date(Number(row.ts)).toISOString(),
    before: row.before,
    after: row.after,
    prevHash: row.prevHash,
    hash: row.hash,
  });
  return `${COLUMNS.map((c) => csvCell(cells[c])).join(',')}\r\n`;
}

/** The entry as exported in JSON: before/after as the stored canonical text, so an archive can be re-verified byte for byte. */
function jsonEntry(row: AuditRow): string {
  return JSON.stringify({ ...rowScalars(row), before: row.before, after: row.after, prevHash: row.prevHash, hash: row.hash });
}

/** Streams the (filtered) log oldest first, one batch in memory at a time. */
export async function* exportAudit(db: Kysely<Database>, format: ExportFormat, filter: AuditFilter = {}): AsyncGenerator<string> {
  let first = true;
  yield format === 'csv' ? `${COLUMNS.map(csvCell).join(',')}\r\n` : '[';
  for await (const rows of batchesInOrder(db, { batchSize: EXPORT_BATCH, filter })) {
    if (format === 'csv') {
      yield rows.map(csvLine).join('');
    } else {
      yield `${first ? '' : ','}${rows.map(jsonEntry).join(',')}`;
      first = false;
    }
  }
  if (format === 'json') yield ']\n';
}

/** The same file for rows already at hand, oldest first: what a decoy session exports of its fabricated log. */
export function* exportRows(format: ExportFormat, rows: readonly AuditRow[]): Generator<string> {
  yield format === 'csv' ? `${COLUMNS.map(csvCell).join(',')}\r\n` : '[';
  yield format === 'csv' ? rows.map(csvLine).join('') : rows.map(jsonEntry).join(',');
  if (format === 'json') yield ']\n';
}

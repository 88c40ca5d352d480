import type { Clock } from '../../lib/clock.js';
import { decodeCursor, encodeCursor, type Page } from '../../lib/cursor.js';
import type { SqlStore } from '../../store/sql/db.js';
import { securityError } from '../errors.js';
import { chainHead, type PendingEntry } from './chain.js';
import { CheckpointFile, type SignedMark } from './checkpoints.js';
import { rowScalars, type AuditEntry, type AuditRow } from './entry.js';
import { exportAudit, type ExportFormat } from './export.js';
import type { HeadStore } from './head.js';
import { HeadPublisher } from './head-publisher.js';
import type { AuditKeys } from './keys.js';
import { newestFirst, type AuditFilter } from './query.js';
import { applyRetention, type RetentionResult } from './retention.js';
import { verifyChain, type VerifyResult } from './verify.js';
import { AuditWriter } from './writer.js';

/** An entry as admins list it: the chain's hashes stay out of the API (export carries them). */
export type AuditView = Omit<AuditEntry, 'prevHash' | 'hash'>;

function parseStored(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text; // tampered text is shown as it is; verify names the entry
  }
}

export function auditView(row: AuditRow): AuditView {
  return { ...rowScalars(row), before: parseStored(row.before), after: parseStored(row.after) };
}

export interface AuditServiceDeps {
  sql: SqlStore;
  clock: Clock;
  keys: AuditKeys;
  checkpointPath: string;
  retentionDays: number;
  /** The signed head every append advances: a file next to the checkpoints, or the cluster's shared Kv. */
  head: HeadStore;
  onAppendFailure(err: unknown, lost: number): void;
  /** The head could not be advanced (it no longer matches the database, or its store failed). */
  onHeadFailure(err: unknown): void;
}

/** The audit chain: append, list, verify, export, checkpoint and retention. */
export class AuditService {
  readonly checkpoints: CheckpointFile;
  private readonly publisher: HeadPublisher;
  private readonly writer: AuditWriter;

  constructor(private readonly deps: AuditServiceDeps) {
    this.checkpoints = new CheckpointFile(deps.checkpointPath, deps.keys);
    this.publisher = new HeadPublisher({ sql: deps.sql, keys: deps.keys, clock: deps.clock, store: deps.head, onFailure: deps.onHeadFailure });
    this.writer = new AuditWriter({ sql: deps.sql, clock: deps.clock, hmacKey: deps.keys.hmacKey, head: this.publisher, onFailure: deps.onAppendFailure });
  }

  get headStore(): HeadStore {
    return this.deps.head;
  }

  append(entry: PendingEntry): Promise<void> {
    return this.writer.append(entry);
  }

  /** Waits until every entry queued so far is written. */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  async list(filter: AuditFilter, page: { limit: number; cursor?: string }): Promise<Page<AuditView>> {
    const before = page.cursor === undefined ? undefined : seqOfCursor(page.cursor);
    const rows = await newestFirst(this.deps.sql.db, filter, { limit: page.limit + 1, before });
    const items = rows.slice(0, page.limit);
    const last = items[items.length - 1];
    return { items: items.map(auditView), next: rows.length > page.limit && last ? encodeCursor(String(last.seq)) : null };
  }

  async verify(opts: { onBatch?: (rows: number) => void } = {}): Promise<VerifyResult> {
    await this.flush();
    const [checkpoints, head] = await Promise.all([this.checkpoints.load(), this.deps.head.read()]);
    return verifyChain({ db: this.deps.sql.db, keys: this.deps.keys, checkpoints, head, onBatch: opts.onBatch });
  }

  export(format: ExportFormat, filter: AuditFilter = {}): AsyncGenerator<string> {
    return exportAudit(this.deps.sql.db, format, filter);
  }

  /** Writes a signed checkpoint of the head (after pending appends) unless this process already did for it. */
  async checkpoint(): Promise<SignedMark | null> {
    await this.flush();
    return this.checkpoints.checkpoint(this.deps.sql.db, this.deps.clock);
  }

  /**
   * A server's start: brings the signed head up to the database's end,
   * starting one if there is none (a chain written before heads existed, or
   * the head was removed: the caller logs that). A head that no longer
   * matches the database is left as it is. Returns whether one was started.
   */
  async adoptHead(): Promise<{ started: boolean; seq: number }> {
    await this.flush();
    const before = await this.deps.head.read();
    const head = await chainHead(this.deps.sql.db);
    if (head.seq > 0) await this.publisher.advanceTo(head, { from: null, create: true });
    const after = await this.deps.head.read();
    return { started: before.state === 'missing' && after.state === 'valid', seq: head.seq };
  }

  async applyRetention(): Promise<RetentionResult> {
    await this.flush();
    return applyRetention({ sql: this.deps.sql, keys: this.deps.keys, clock: this.deps.clock, retentionDays: this.deps.retentionDays, file: this.checkpoints });
  }
}

function seqOfCursor(cursor: string): number {
  const text = decodeCursor(cursor);
  const seq = text !== null && /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(seq)) throw securityError('invalid_cursor');
  return seq;
}

import type { Kysely, Transaction } from 'kysely';
import { Compile } from 'typebox/compile';
import type { Clock } from '../lib/clock.js';
import { jsonMayHoldNul, nulPath } from '../lib/nul.js';
import { isSealedEnvelope, openEnvelope, reportAad, sealRekey, type SealedEnvelope, type SealedRekey } from '../protocol/sealing.js';
import type { SignedCommand } from '../protocol/signing.js';
import { parallelWriters } from '../store/sql/db.js';
import { GroupCommit } from '../store/sql/group-commit.js';
import type { Database, MachinesTable, MetricsRawTable } from '../store/sql/tables.js';
import type { AgentRow } from './agents.js';
import { fleetError } from './errors.js';
import type { FleetKeys } from './keys.js';
import { factColumns, factsRecord } from './machines.js';
import { ReportBatchSchema, type Report, type ReportBatch } from '../protocol/report.js';
import { sampleOf, type NetCounters } from './samples.js';

/** Reports measured longer ago than this are skipped (the agent's spool keeps 24 h). */
export const MAX_REPORT_AGE_MS = 24 * 3600_000;

export interface IngestSettings {
  requireSealing: boolean;
  clockSkewSeconds: number;
  reportIntervalSeconds: number;
  /** Raw retention; a report older than it would land in an already pruned range. */
  rawHours: number;
}

export interface ReportAnswer {
  accepted: number;
  commands: SignedCommand[];
  intervalSeconds: number;
  rekey?: SealedRekey;
}

export interface IngestDeps {
  db: Kysely<Database>;
  clock: Clock;
  keys: FleetKeys;
  settings: IngestSettings;
  /** Told after each commit, with the number of reports stored; must not throw. */
  onIngested: (machineId: string, accepted: number) => void;
  /** The agent's queued commands, marked delivered (they ride in the answer). */
  pendingCommands?: (agentId: string) => Promise<SignedCommand[]>;
}

/** What survived every check: the reports, and the envelope fields that bind them. */
interface OpenedReport {
  batch: ReportBatch;
  /** null for a plaintext report (only when sealing is not required). */
  seq: number | null;
  kid: number | null;
}

const batchValidator = Compile(ReportBatchSchema);
const utf8 = new TextDecoder('utf-8', { fatal: true });

function schemaMessage(value: unknown): string {
  const errors = batchValidator.Errors(value);
  const extra = errors.find((e) => e.keyword === 'additionalProperties');
  const first = extra ?? errors[0];
  if (!first) return 'the report does not match the schema';
  const path = `report${first.instancePath.replaceAll('/', '.')}`;
  if (first.keyword === 'additionalProperties') {
    const names = (first.params as { additionalProperties?: string[] }).additionalProperties ?? [];
    return `${path}: unknown field "${String(names[0] ?? '').slice(0, 64)}"`;
  }
  return `${path}: ${first.message}`.slice(0, 300);
}

/** `text` is the JSON the value was parsed from, when known: without a `\u0000` in it, no string can hold a NUL. */
function parseBatch(value: unknown, text?: string): ReportBatch {
  if (!batchValidator.Check(value)) throw fleetError('invalid_body', { message: schemaMessage(value) });
  const at = text === undefined || jsonMayHoldNul(text) ? nulPath(value) : null;
  if (at !== null) throw fleetError('invalid_body', { message: `report${at.replaceAll('/', '.')}: must not contain a NUL character`.slice(0, 300) });
  return value;
}

/**
 * Report ingest (docs/protocol.md): every check of the envelope first, each
 * refusal its own code, then one unit of work that takes the sequence number,
 * stores the samples and updates the machine, in a transaction it shares with
 * the reports that arrived alongside (group commit). Nothing of a report is
 * written unless all of it commits, and the answer leaves only after the commit. Every write is
 * an insert or an update by primary key, so a report costs the same whatever
 * the size of the tables.
 */
export class ReportIngest {
  /** Reports arriving together share a commit, each in its own savepoint. */
  readonly #commits: GroupCommit;

  constructor(private readonly deps: IngestDeps) {
    // SQLite has one connection; on PostgreSQL a few groups at once leave the pool room for everything else.
    this.#commits = new GroupCommit(deps.db, { maxGroup: 64, concurrency: parallelWriters(deps.db) });
  }

  /** `agent` is the row its API key was just checked against (one read per report). */
  async ingest(agent: AgentRow, body: unknown, ip: string | null): Promise<ReportAnswer> {
    const now = this.deps.clock.nowMs();
    if (agent.revokedAt !== null) throw fleetError('unauthorized');
    const opened = this.open(agent, body, now);
    const accepted = await this.store(agent.id, opened, ip, now);
    this.deps.onIngested(agent.id, accepted);
    const commands = (await this.deps.pendingCommands?.(agent.id)) ?? [];
    const answer: ReportAnswer = { accepted, commands, intervalSeconds: this.deps.settings.reportIntervalSeconds };
    if (opened.kid !== null && agent.kid > opened.kid) {
      // The agent still seals under a rotated-out version: hand it the current key, sealed under the one it has.
      answer.rekey = sealRekey(this.deps.keys.sealingKey(agent.id, opened.kid), agent.id, agent.kid, this.deps.keys.sealingKey(agent.id, agent.kid));
    }
    return answer;
  }

  /** Checks the envelope top to bottom; each check an early exit. */
  private open(agent: AgentRow, body: unknown, now: number): OpenedReport {
    const { settings, keys } = this.deps;
    if (!isSealedEnvelope(body)) {
      const plaintext = typeof body === 'object' && body !== null && 'reports' in body;
      if (!plaintext) throw fleetError('seal_invalid');
      if (settings.requireSealing) throw fleetError('seal_required');
      return { batch: parseBatch(body), seq: null, kid: null };
    }
    const envelope: SealedEnvelope = body;
    if (!this.kidAccepted(agent, envelope.kid, now)) throw fleetError('seal_invalid');
    // The key is derived from this agent's id, so an envelope sealed for any other agent cannot open here.
    const key = keys.sealingKey(agent.id, envelope.kid);
    const plaintext = openEnvelope(key, envelope, reportAad(agent.id, envelope.kid, envelope.ts, envelope.seq));
    if (plaintext === null) throw fleetError('seal_invalid');
    if (Math.abs(envelope.ts - now) > settings.clockSkewSeconds * 1000) throw fleetError('stale_timestamp');
    // Checked again atomically when stored; this early exit spares the parse.
    if (envelope.seq <= agent.lastSeq) throw fleetError('replay');
    let text: string;
    let value: unknown;
    try {
      text = utf8.decode(plaintext);
      value = JSON.parse(text);
    } catch {
      throw fleetError('invalid_body', { message: 'the sealed report is not UTF-8 JSON' });
    }
    return { batch: parseBatch(value, text), seq: envelope.seq, kid: envelope.kid };
  }

  private kidAccepted(agent: AgentRow, kid: number, now: number): boolean {
    if (kid === agent.kid) return true;
    return kid === agent.prevKid && agent.prevKidUntil !== null && now < agent.prevKidUntil;
  }

  /** Reports inside the accepted age window, oldest first (rates need the order). */
  private usable(reports: Report[], now: number): Report[] {
    const { rawHours, clockSkewSeconds } = this.deps.settings;
    const oldest = now - Math.min(MAX_REPORT_AGE_MS, rawHours * 3600_000);
    const newest = now + clockSkewSeconds * 1000;
    return reports.filter((r) => r.collectedAt >= oldest && r.collectedAt <= newest).sort((a, b) => a.collectedAt - b.collectedAt);
  }

  private async store(agentId: string, opened: OpenedReport, ip: string | null, now: number): Promise<number> {
    const reports = this.usable(opened.batch.reports, now);
    return this.#commits.run(agentId, async (trx) => {
      await this.takeSequence(trx, agentId, opened.seq, ip, now);
      // Only what planning needs: facts and the latest report are large and are rewritten, never read, here.
      const machine = await trx.selectFrom('machines').select(PLANNING_COLUMNS).where('id', '=', agentId).executeTakeFirstOrThrow();
      const { rows, update } = planWrites(machine, reports, now);
      let accepted = 0;
      if (rows.length > 0) {
        const result = await trx
          .insertInto('metricsRaw')
          .values(rows)
          .onConflict((oc) => oc.columns(['machineId', 'ts']).doNothing())
          .executeTakeFirst();
        accepted = Number(result.numInsertedOrUpdatedRows ?? 0);
      }
      await trx.updateTable('machines').set(update).where('id', '=', agentId).execute();
      return accepted;
    });
  }

  /** The replay check that counts: only an UPDATE that raises last_seq lets the report in. */
  private async takeSequence(trx: Transaction<Database>, agentId: string, seq: number | null, ip: string | null, now: number): Promise<void> {
    const intervalSeconds = this.deps.settings.reportIntervalSeconds;
    let update = trx.updateTable('agents').set({ lastIp: ip, intervalSeconds, updatedAt: now }).where('id', '=', agentId).where('revokedAt', 'is', null);
    if (seq !== null) update = update.set({ lastSeq: seq }).where('lastSeq', '<', seq);
    const result = await update.executeTakeFirst();
    if (Number(result.numUpdatedRows) === 1) return;
    const agent = await trx.selectFrom('agents').select('revokedAt').where('id', '=', agentId).executeTakeFirst();
    throw fleetError(!agent || agent.revokedAt !== null ? 'unauthorized' : 'replay');
  }
}

const PLANNING_COLUMNS = ['id', 'netRxTotal', 'netTxTotal', 'lastCollectedAt', 'factsHash'] as const;
type PlanningColumns = Pick<MachinesTable, (typeof PLANNING_COLUMNS)[number]>;

/** The raw rows to insert and the machine columns to set, from the machine as stored and the reports (oldest first). */
function planWrites(machine: PlanningColumns, reports: Report[], now: number): { rows: MetricsRawTable[]; update: Partial<MachinesTable> } {
  let counters: NetCounters | null =
    machine.netRxTotal !== null && machine.netTxTotal !== null && machine.lastCollectedAt !== null
      ? { at: machine.lastCollectedAt, rx: machine.netRxTotal, tx: machine.netTxTotal }
      : null;
  const rows: MetricsRawTable[] = [];
  let newest: { report: Report; sample: MetricsRawTable; counters: NetCounters | null } | null = null;
  for (const report of reports) {
    const derived = sampleOf(report, counters);
    if (derived.counters && (!counters || derived.counters.at > counters.at)) counters = derived.counters;
    const row = { machineId: machine.id, ts: report.collectedAt, ...derived.sample, createdAt: now, updatedAt: now };
    rows.push(row);
    newest = { report, sample: row, counters: derived.counters };
  }

  const update: Partial<MachinesTable> = { lastSeenAt: now, updatedAt: now };
  // A drained spool may bring reports older than what is shown: they feed history only.
  if (newest && (machine.lastCollectedAt === null || newest.report.collectedAt >= machine.lastCollectedAt)) {
    const { facts: _facts, ...latest } = newest.report;
    const { cpu, mem, swap, disk, netRx, netTx, load1 } = newest.sample;
    Object.assign(update, {
      lastCollectedAt: newest.report.collectedAt,
      cpu,
      mem,
      swap,
      disk,
      netRx,
      netTx,
      load1,
      netRxTotal: newest.counters?.rx ?? null,
      netTxTotal: newest.counters?.tx ?? null,
      latest: JSON.stringify(latest),
    });
    const newestFacts = [...reports].reverse().find((r) => r.facts)?.facts;
    // Facts are rewritten only when they changed.
    if (newestFacts && factsRecord(newestFacts).factsHash !== machine.factsHash) Object.assign(update, factColumns(newestFacts));
  }
  return { rows, update };
}

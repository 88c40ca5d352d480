import type { Kysely } from 'kysely';
import { Compile } from 'typebox/compile';
import type { Clock } from '../lib/clock.js';
import { isId } from '../lib/ids.js';
import { CommandResultSchema, type CommandResult } from '../protocol/command-result.js';
import { isSealedEnvelope, MAX_RESULT_PLAINTEXT_BYTES, openEnvelope, resultAad } from '../protocol/sealing.js';
import type { CommandsTable, Database } from '../store/sql/tables.js';
import type { CommandAudit } from './audit.js';
import { commandError } from './errors.js';
import { FINAL_STATES } from './view.js';

/** One result plaintext, as docs/protocol.md and the agent define it. */
type ResultPlaintext = CommandResult;
const resultValidator = Compile(CommandResultSchema);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The agent as its API key was just checked: the fields that decide which key versions it may seal with. */
export interface ResultAgent {
  id: string;
  kid: number;
  prevKid: number | null;
  prevKidUntil: number | null;
  revokedAt: number | null;
}

export interface ResultDeps {
  db: Kysely<Database>;
  clock: Clock;
  audit: CommandAudit;
  sealingKey: (agentId: string, kid: number) => Uint8Array;
  clockSkewSeconds: number;
}

/**
 * Results from agents (contract: sealed, AAD bound to the agent, key version,
 * time, result seq and command id). Checked top to bottom, each an early exit,
 * and nothing is written unless every check passed.
 */
export class ResultIngest {
  constructor(private readonly deps: ResultDeps) {}

  async accept(agent: ResultAgent, commandId: string, body: unknown): Promise<void> {
    const { db, clock, clockSkewSeconds } = this.deps;
    const now = clock.nowMs();
    if (agent.revokedAt !== null) throw commandError('unauthorized');
    if (!isSealedEnvelope(body, MAX_RESULT_PLAINTEXT_BYTES)) throw commandError('seal_invalid');
    const command = isId(commandId) ? await db.selectFrom('commands').selectAll().where('id', '=', commandId).executeTakeFirst() : undefined;
    // Another agent's command reads as unknown: its id tells this agent nothing.
    if (!command || command.agentId !== agent.id) throw commandError('command_not_found');
    if (!kidAccepted(agent, body.kid, now)) throw commandError('seal_invalid');
    const plaintext = openEnvelope(this.deps.sealingKey(agent.id, body.kid), body, resultAad(agent.id, body.kid, body.ts, body.seq, commandId), MAX_RESULT_PLAINTEXT_BYTES);
    if (plaintext === null) throw commandError('seal_invalid');
    if (Math.abs(body.ts - now) > clockSkewSeconds * 1000) throw commandError('stale_timestamp');
    const result = parseResult(plaintext);
    if (FINAL_STATES.includes(command.state)) {
      // An agent retrying a final result it already delivered gets the same answer.
      if (sameFinal(command, result)) return;
      throw commandError('command_finished');
    }
    if (command.state === 'queued') throw commandError('command_not_delivered');
    if (result.status === 'started' && command.state === 'running') return;
    const update = updateFor(result, now);
    await db.transaction().execute(async (trx) => {
      const seq = await trx.updateTable('agents').set({ lastResultSeq: body.seq }).where('id', '=', agent.id).where('lastResultSeq', '<', body.seq).executeTakeFirst();
      if (Number(seq.numUpdatedRows) !== 1) throw commandError('replay');
      const changed = await trx.updateTable('commands').set(update).where('id', '=', commandId).where('state', 'in', ['delivered', 'running']).executeTakeFirst();
      if (Number(changed.numUpdatedRows) !== 1) throw commandError('command_finished');
    });
    this.record(agent.id, command, result, now);
  }

  private record(agentId: string, command: CommandsTable, result: ResultPlaintext, now: number): void {
    const action = result.status === 'started' ? 'command_started' : result.status === 'refused' ? 'command_refused' : 'command_result';
    const signed = command.signed ? (JSON.parse(command.signed) as { action?: unknown; params?: { sha256?: unknown } }) : {};
    void this.deps.audit.record({
      action,
      actorType: 'agent',
      actorId: agentId,
      resourceType: 'command',
      resourceId: command.id,
      after: {
        requestId: command.requestId,
        machines: [agentId],
        action: signed.action ?? null,
        scriptSha256: signed.params?.sha256 ?? null,
        state: result.status === 'started' ? 'running' : result.status,
        ...('exitCode' in result ? { exitCode: result.exitCode } : {}),
        ...(result.status === 'refused' ? { reason: result.reason } : {}),
      },
      success: result.status === 'started' || result.status === 'succeeded',
      error: result.status === 'refused' ? result.reason : null,
      at: now,
    });
  }
}

function kidAccepted(agent: ResultAgent, kid: number, now: number): boolean {
  if (kid === agent.kid) return true;
  return kid === agent.prevKid && agent.prevKidUntil !== null && now < agent.prevKidUntil;
}

function parseResult(plaintext: Uint8Array): ResultPlaintext {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(plaintext));
  } catch {
    throw commandError('invalid_result', { message: 'the sealed result is not UTF-8 JSON' });
  }
  if (!resultValidator.Check(value)) throw commandError('invalid_result');
  if (typeof value === 'object' && value !== null && JSON.stringify(value).includes('\\u0000')) {
    throw commandError('invalid_result', { message: 'the result must not contain a NUL character' });
  }
  return value;
}

function updateFor(result: ResultPlaintext, now: number): Partial<CommandsTable> {
  if (result.status === 'started') return { state: 'running', startedAt: result.startedAt, updatedAt: now };
  if (result.status === 'refused') return { state: 'refused', reason: result.reason, finishedAt: now, updatedAt: now };
  return {
    state: result.status,
    exitCode: result.exitCode,
    signal: result.signal,
    startedAt: result.startedAt,
    finishedAt: result.finishedAt,
    output: result.output,
    outputBytes: result.outputBytes,
    outputSha256: result.outputSha256,
    truncated: result.truncated ? 1 : 0,
    updatedAt: now,
  };
}

function sameFinal(command: CommandsTable, result: ResultPlaintext): boolean {
  if (result.status === 'started') return false;
  if (result.status === 'refused') return command.state === 'refused' && command.reason === result.reason;
  return command.state === result.status && command.exitCode === result.exitCode && command.outputSha256 === result.outputSha256;
}

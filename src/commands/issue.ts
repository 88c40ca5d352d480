import { randomBytes } from 'node:crypto';
import type { Transaction } from 'kysely';
import { newId } from '../lib/ids.js';
import { toBase64url } from '../protocol/base64url.js';
import type { CommandSigner, SignedCommand } from '../protocol/signing.js';
import type { CommandRequestsTable, Database } from '../store/sql/tables.js';

const NONCE_BYTES = 16;

/**
 * Signs one command per machine for an approved request, stored queued. The
 * signature covers the agent id and expiry, so a command stays bound to one
 * machine and its window whoever relays it.
 */
export async function issueCommands(
  trx: Transaction<Database>,
  signer: CommandSigner,
  request: Pick<CommandRequestsTable, 'id' | 'action' | 'params' | 'ttlSeconds'>,
  machineIds: string[],
  now: number,
): Promise<SignedCommand[]> {
  const params = JSON.parse(request.params) as Record<string, unknown>;
  const expiresAt = now + request.ttlSeconds * 1000;
  const signed = machineIds.map((agentId) =>
    signer.sign({ id: newId(), agentId, action: request.action, params, nonce: toBase64url(randomBytes(NONCE_BYTES)), issuedAt: now, expiresAt }),
  );
  // Bounded batches keep each statement under SQLite's and PostgreSQL's parameter limits.
  for (let i = 0; i < signed.length; i += 200) {
    const rows = signed.slice(i, i + 200).map((cmd) => ({
      id: cmd.id,
      requestId: request.id,
      agentId: cmd.agentId,
      state: 'queued',
      signed: JSON.stringify(cmd),
      issuedAt: now,
      expiresAt,
      deliveredAt: null,
      startedAt: null,
      finishedAt: null,
      exitCode: null,
      signal: null,
      output: null,
      outputBytes: null,
      outputSha256: null,
      truncated: null,
      reason: null,
      createdAt: now,
      updatedAt: now,
    }));
    await trx.insertInto('commands').values(rows).execute();
  }
  return signed;
}

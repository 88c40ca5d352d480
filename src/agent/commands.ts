import { Value } from 'typebox/value';
import type { Clock } from '../lib/clock.js';
import { EmptyParamsSchema, ROTATE_SIGNING_KEY, RotateSigningKeyParamsSchema, RunScriptParamsSchema, type RefusalReason } from '../protocol/command-result.js';
import { verifyCommand, type SignedCommand } from '../protocol/signing.js';
import type { SeenCommands } from './seen-commands.js';

/** The longest TTL a server may give (86 400 s), plus clock skew; an id is remembered until expiry, so expiry must be bounded. */
export const MAX_COMMAND_LIFETIME_MS = (86_400 + 300) * 1000;

export type GateResult =
  | { ok: true; cmd: SignedCommand }
  | {
      ok: false;
      reason: RefusalReason;
      message: string;
      /** The command id when it is worth answering; null when the answer would go to a command that is not this one's (another agent's, an already answered one) or the id is unusable. */
      answerTo: string | null;
    };

const PARAMS = {
  ping: EmptyParamsSchema,
  collect: EmptyParamsSchema,
  diagnostics: EmptyParamsSchema,
  restart_agent: EmptyParamsSchema,
  run_script: RunScriptParamsSchema,
  [ROTATE_SIGNING_KEY]: RotateSigningKeyParamsSchema,
} as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The checks every command passes before anything else looks at it
 * (docs/protocol.md "Signed commands"): signature under the pinned key, this
 * agent's id, expiry, a new id (remembered on disk before it runs) and params
 * of the action's shape. What the host allows is the policy's business, later.
 */
export class CommandGate {
  constructor(
    private readonly publicKey: () => string,
    private readonly agentId: () => string,
    private readonly seen: SeenCommands,
    private readonly clock: Clock,
  ) {}

  async check(raw: unknown): Promise<GateResult> {
    const cmd = raw as SignedCommand;
    const id = typeof cmd?.id === 'string' && UUID.test(cmd.id) ? cmd.id : null;
    const now = this.clock.nowMs();
    if (!verifyCommand(this.publicKey(), cmd)) return refuse('bad_signature', 'the signature does not verify under the pinned command key', id);
    if (!id) return refuse('invalid_params', 'the command id is not a UUID', null);
    if (cmd.agentId !== this.agentId()) return refuse('other_agent', 'the command is for another agent', null);
    if (cmd.expiresAt <= now) return refuse('expired', 'the command expired', id);
    if (cmd.expiresAt > now + MAX_COMMAND_LIFETIME_MS) return refuse('expired', 'the command expires later than any command may', id);
    if (this.seen.has(id)) return refuse('replayed', 'this command id was already received', null);
    const schema = (PARAMS as Record<string, (typeof PARAMS)[keyof typeof PARAMS] | undefined>)[cmd.action];
    // Unknown actions are the policy's to refuse; their params are checked here only for known ones.
    if (schema && !Value.Check(schema, cmd.params)) return refuse('invalid_params', `the params do not fit ${cmd.action}`, id);
    if (cmd.action === 'run_script' && (cmd.params.args as string[]).some((arg) => arg.includes('\0'))) return refuse('invalid_params', 'an argument holds a NUL byte', id);
    let stored: boolean;
    try {
      stored = await this.seen.remember(id, cmd.expiresAt);
    } catch {
      // Unable to record it means unable to refuse its replay: do not run it.
      return refuse('busy', 'the agent cannot record the command id', id);
    }
    if (!stored) return this.seen.has(id) ? refuse('replayed', 'this command id was already received', null) : refuse('busy', 'too many unexpired commands are remembered', id);
    return { ok: true, cmd };
  }
}

function refuse(reason: RefusalReason, message: string, answerTo: string | null): GateResult {
  return { ok: false, reason, message, answerTo };
}

/**
 * Command actions, their params, and the result plaintexts an agent seals to
 * `POST /api/agent/commands/<id>/result` (docs/protocol.md "Signed commands",
 * "Command results"). Shared by the server (checks) and the agent (builds).
 */
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';

export const COMMAND_ACTIONS = ['ping', 'collect', 'diagnostics', 'restart_agent', 'run_script'] as const;
export type CommandAction = (typeof COMMAND_ACTIONS)[number];
/** Pins a new command-signing key; always accepted when signed by the pinned key, it changes no machine state. */
export const ROTATE_SIGNING_KEY = 'rotate_signing_key';

export const MAX_SCRIPT_ARGS = 64;
export const MAX_SCRIPT_ARG_CHARS = 1024;
/** A result carries the last 1 MiB of the combined output. */
export const MAX_RESULT_OUTPUT_BYTES = 1024 * 1024;

export const EmptyParamsSchema = Type.Object({}, { additionalProperties: false });
export const RunScriptParamsSchema = Type.Object(
  {
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    args: Type.Array(Type.String({ maxLength: MAX_SCRIPT_ARG_CHARS }), { maxItems: MAX_SCRIPT_ARGS }),
  },
  { additionalProperties: false },
);
export type RunScriptParams = Static<typeof RunScriptParamsSchema>;
export const RotateSigningKeyParamsSchema = Type.Object(
  { publicKey: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }) },
  { additionalProperties: false },
);

export const REFUSAL_REASONS = [
  'bad_signature',
  'other_agent',
  'expired',
  'replayed',
  'action_not_allowed',
  'script_not_allowed',
  'script_hash_mismatch',
  'args_not_allowed',
  'invalid_params',
  'busy',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

const Time = Type.Integer({ minimum: 0 });

export const StartedResultSchema = Type.Object({ status: Type.Literal('started'), startedAt: Time }, { additionalProperties: false });

export const FinalResultSchema = Type.Object(
  {
    status: Type.Union([Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('timed_out')]),
    exitCode: Type.Union([Type.Integer(), Type.Null()]),
    signal: Type.Union([Type.String({ maxLength: 32 }), Type.Null()]),
    startedAt: Time,
    finishedAt: Time,
    output: Type.String({ maxLength: MAX_RESULT_OUTPUT_BYTES }),
    outputBytes: Type.Integer({ minimum: 0 }),
    outputSha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    truncated: Type.Boolean(),
  },
  { additionalProperties: false },
);

export const RefusedResultSchema = Type.Object(
  {
    status: Type.Literal('refused'),
    reason: Type.Unsafe<RefusalReason>(Type.Union(REFUSAL_REASONS.map((r) => Type.Literal(r)))),
    message: Type.String({ maxLength: 1000 }),
  },
  { additionalProperties: false },
);

export const CommandResultSchema = Type.Union([StartedResultSchema, FinalResultSchema, RefusedResultSchema]);
export type StartedResult = Static<typeof StartedResultSchema>;
export type FinalResult = Static<typeof FinalResultSchema>;
export type RefusedResult = Static<typeof RefusedResultSchema>;
export type CommandResult = Static<typeof CommandResultSchema>;

export function parseCommandResult(value: unknown): CommandResult | null {
  return Value.Check(CommandResultSchema, value) ? (value as CommandResult) : null;
}

import { Type, type Static } from 'typebox';
import type { Role } from '../protocol/route-policy.js';
import type { CommandApprovalsTable, CommandRequestsTable, CommandsTable } from '../store/sql/tables.js';
import { ACTIONS, paramsForViewer, type Action } from './catalog.js';
import { parseTarget } from './targets.js';


/** Who acts, as the route's policy authenticated them. */
export interface Actor {
  userId: string;
  role: Role;
  ip: string | null;
}

export const COMMAND_STATES = ['queued', 'delivered', 'running', 'succeeded', 'failed', 'timed_out', 'refused', 'expired', 'cancelled'] as const;
export type CommandState = (typeof COMMAND_STATES)[number];
export const REQUEST_STATES = ['pending_approval', 'approved', 'rejected', 'cancelled', 'expired'] as const;
export type RequestState = (typeof REQUEST_STATES)[number];
/** A command in one of these has its result; nothing changes it again. */
export const FINAL_STATES: readonly string[] = ['succeeded', 'failed', 'timed_out', 'refused', 'expired', 'cancelled'];

const Ms = Type.Integer();
const NullableMs = Type.Union([Type.Integer(), Type.Null()]);

/** A command request as the API shows it; the route schemas and the CLI read this one definition. */
export const CommandRequestSchema = Type.Object({
  id: Type.String(),
  action: Type.Enum(ACTIONS),
  /** Viewers never get a script's `args`. */
  params: Type.Object({}, { additionalProperties: true }),
  scriptSha256: Type.Union([Type.String(), Type.Null()]),
  target: Type.Union([Type.Object({ machines: Type.Array(Type.String()) }), Type.Object({ tag: Type.String() })]),
  requestedBy: Type.String(),
  state: Type.Enum(REQUEST_STATES),
  approvalsRequired: Type.Integer(),
  approvals: Type.Array(Type.Object({ userId: Type.String(), decision: Type.String(), at: Ms })),
  ttlSeconds: Type.Integer(),
  approvalExpiresAt: Ms,
  approvedAt: NullableMs,
  createdAt: Ms,
});

export const CommandStateSchema = Type.Enum(COMMAND_STATES);
const MachineState = Type.Object({
  machineId: Type.String(),
  commandId: Type.String(),
  state: CommandStateSchema,
  exitCode: NullableMs,
  startedAt: NullableMs,
  finishedAt: NullableMs,
  reason: Type.Union([Type.String(), Type.Null()]),
});
export const CommandDetailSchema = Type.Object({
  ...CommandRequestSchema.properties,
  progress: Type.Object(Object.fromEntries(COMMAND_STATES.map((s) => [s, Type.Integer()]))),
  machines: Type.Array(MachineState),
});
export type CommandRequestView = Static<typeof CommandRequestSchema>;
export type CommandDetailView = Static<typeof CommandDetailSchema>;

/** The request as the API shows it; a viewer never sees a script's arguments. */
export function requestView(row: CommandRequestsTable, approvals: CommandApprovalsTable[], actor: Actor, now: number): CommandRequestView {
  const params = JSON.parse(row.params) as Record<string, unknown>;
  return {
    id: row.id,
    action: row.action as Action,
    params: actor.role === 'viewer' ? paramsForViewer(params) : params,
    scriptSha256: row.scriptSha256,
    target: parseTarget(row.target),
    requestedBy: row.requestedBy,
    // A pending request past its window reads as expired before anyone touches it.
    state: row.state === 'pending_approval' && now >= row.approvalExpiresAt ? 'expired' : (row.state as RequestState),
    approvalsRequired: row.approvalsRequired,
    approvals: approvals.map((a) => ({ userId: a.userId, decision: a.decision, at: a.at })),
    ttlSeconds: row.ttlSeconds,
    approvalExpiresAt: row.approvalExpiresAt,
    approvedAt: row.approvedAt,
    createdAt: row.createdAt,
  };
}

export function emptyProgress(): Record<CommandState, number> {
  return Object.fromEntries(COMMAND_STATES.map((s) => [s, 0])) as Record<CommandState, number>;
}

/** A queued command past its expiry is expired, whether or not its agent has reported since. */
export function commandState(row: Pick<CommandsTable, 'state' | 'expiresAt'>, now: number): CommandState {
  return row.state === 'queued' && row.expiresAt !== null && row.expiresAt <= now ? 'expired' : (row.state as CommandState);
}

export function machineStateView(row: Pick<CommandsTable, 'id' | 'agentId' | 'state' | 'expiresAt' | 'exitCode' | 'startedAt' | 'finishedAt' | 'reason'>, now: number) {
  return { machineId: row.agentId, commandId: row.id, state: commandState(row, now), exitCode: row.exitCode, startedAt: row.startedAt, finishedAt: row.finishedAt, reason: row.reason };
}

export function machineResultView(row: CommandsTable, now: number) {
  return {
    machineId: row.agentId,
    commandId: row.id,
    state: commandState(row, now),
    exitCode: row.exitCode,
    output: row.output,
    outputBytes: row.outputBytes,
    outputSha256: row.outputSha256,
    truncated: row.truncated === null ? null : row.truncated === 1,
    reason: row.reason,
  };
}

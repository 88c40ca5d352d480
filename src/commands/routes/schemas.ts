import { Type } from 'typebox';
import { MAX_KID, MAX_RESULT_CT_CHARS } from '../../protocol/sealing.js';
import { ACTIONS } from '../catalog.js';
import { COMMAND_STATES, REQUEST_STATES } from '../view.js';

const strict = { additionalProperties: false } as const;
const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' });
const Ms = Type.Integer();
const NullableMs = Type.Union([Type.Integer(), Type.Null()]);
const Tag = Type.String({ minLength: 1, maxLength: 64 });

export const Target = Type.Union([Type.Object({ machines: Type.Array(Uuid, { minItems: 1, maxItems: 100000 }) }, strict), Type.Object({ tag: Tag }, strict)]);

export const NewCommandBody = Type.Object(
  {
    action: Type.String({ minLength: 1, maxLength: 64 }),
    params: Type.Object({}, { additionalProperties: true }),
    targets: Target,
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 86400 })),
  },
  strict,
);
export const EmptyBody = Type.Object({}, strict);
export const DecisionBody = Type.Object({ comment: Type.Optional(Type.String({ maxLength: 1000 })) }, strict);
export const IdParam = Type.Object({ id: Uuid }, strict);

export const ListQuery = Type.Object(
  {
    state: Type.Optional(Type.Enum(REQUEST_STATES)),
    machine: Type.Optional(Uuid),
    requester: Type.Optional(Uuid),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
    cursor: Type.Optional(Type.String({ maxLength: 400 })),
  },
  strict,
);
export const PageQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })), cursor: Type.Optional(Type.String({ maxLength: 400 })) }, strict);

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

const CommandStateSchema = Type.Enum(COMMAND_STATES);
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
export const CommandPage = Type.Object({ items: Type.Array(CommandRequestSchema), next: Type.Union([Type.String(), Type.Null()]) });
export const ResultList = Type.Object({
  items: Type.Array(
    Type.Object({
      machineId: Type.String(),
      commandId: Type.String(),
      state: CommandStateSchema,
      exitCode: NullableMs,
      output: Type.Union([Type.String(), Type.Null()]),
      outputBytes: NullableMs,
      outputSha256: Type.Union([Type.String(), Type.Null()]),
      truncated: Type.Union([Type.Boolean(), Type.Null()]),
      reason: Type.Union([Type.String(), Type.Null()]),
    }),
  ),
});
export const MachineCommandPage = Type.Object({
  items: Type.Array(
    Type.Object({
      commandId: Type.String(),
      requestId: Type.String(),
      action: Type.String(),
      scriptSha256: Type.Union([Type.String(), Type.Null()]),
      state: CommandStateSchema,
      issuedAt: NullableMs,
      expiresAt: NullableMs,
      deliveredAt: NullableMs,
      startedAt: NullableMs,
      finishedAt: NullableMs,
      exitCode: NullableMs,
      reason: Type.Union([Type.String(), Type.Null()]),
    }),
  ),
  next: Type.Union([Type.String(), Type.Null()]),
});
/** The sealed envelope (docs/protocol.md); its exact checks are isSealedEnvelope's. */
export const SealedBody = Type.Object(
  {
    v: Type.Literal(1),
    kid: Type.Integer({ minimum: 1, maximum: MAX_KID }),
    ts: Type.Integer({ minimum: 0 }),
    seq: Type.Integer({ minimum: 0 }),
    nonce: Type.String({ maxLength: 64 }),
    ct: Type.String({ maxLength: MAX_RESULT_CT_CHARS }),
  },
  strict,
);
export const OkResponse = Type.Object({ ok: Type.Literal(true) });

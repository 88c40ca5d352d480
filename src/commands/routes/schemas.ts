import { Type } from 'typebox';
import { MAX_KID, MAX_RESULT_CT_CHARS } from '../../protocol/sealing.js';
import { EmptyBody, IdParam } from '../../protocol/http-schemas.js';
import { CommandDetailSchema, CommandRequestSchema, CommandStateSchema, REQUEST_STATES } from '../view.js';

const strict = { additionalProperties: false } as const;
const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' });
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
export const DecisionBody = Type.Object({ comment: Type.Optional(Type.String({ maxLength: 1000 })) }, strict);
export { EmptyBody, IdParam };

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

export { CommandDetailSchema, CommandRequestSchema };
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
export { Ok as OkResponse } from '../../protocol/http-schemas.js';

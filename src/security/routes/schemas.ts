import { Type } from 'typebox';

const strict = { additionalProperties: false } as const;
const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);
const Name = Type.String({ pattern: '^[a-z][a-z0-9_.]{0,63}$' });

/** Filters shared by the list and the export. */
const filterFields = {
  actor: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  actorIp: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  action: Type.Optional(Name),
  resourceType: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  resourceId: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  success: Type.Optional(Type.Boolean()),
  from: Type.Optional(Type.Integer({ minimum: 0 })),
  to: Type.Optional(Type.Integer({ minimum: 0 })),
};

const page = {
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  cursor: Type.Optional(Type.String({ maxLength: 64 })),
};

export const AuditListQuery = Type.Object({ ...filterFields, ...page }, strict);
export const AuditExportQuery = Type.Object({ ...filterFields, format: Type.Union([Type.Literal('csv'), Type.Literal('json')], { default: 'json' }) }, strict);
export const SecurityEventsQuery = Type.Object({ action: Type.Optional(Name), from: filterFields.from, to: filterFields.to, ...page }, strict);

export const AuditEntrySchema = Type.Object(
  {
    seq: Type.Integer(),
    ts: Type.Integer(),
    actorType: Type.String(),
    actorId: Nullable(Type.String()),
    actorIp: Nullable(Type.String()),
    action: Type.String(),
    resourceType: Nullable(Type.String()),
    resourceId: Nullable(Type.String()),
    before: Type.Unknown(),
    after: Type.Unknown(),
    success: Type.Boolean(),
    error: Nullable(Type.String()),
  },
  strict,
);

export const AuditPage = Type.Object({ items: Type.Array(AuditEntrySchema), next: Type.Union([Type.String(), Type.Null()]) }, strict);

export const VerifyResultSchema = Type.Object(
  {
    ok: Type.Boolean(),
    count: Type.Integer(),
    firstSeq: Type.Union([Type.Integer(), Type.Null()]),
    lastSeq: Type.Union([Type.Integer(), Type.Null()]),
    /** Hash of the last verified entry: compare it with an earlier export or checkpoint. */
    head: Nullable(Type.String()),
    checkpoints: Type.Integer(),
    /** Seq of the signed head kept outside the database: the chain must reach it. */
    signedHeadSeq: Type.Union([Type.Integer(), Type.Null()]),
    broken: Type.Union([Type.Object({ seq: Type.Integer(), reason: Type.String() }, strict), Type.Null()]),
    /** What the break means, e.g. "entries after seq 41 are missing: …"; null when ok. */
    message: Nullable(Type.String()),
  },
  strict,
);

/** Text bodies (Prometheus exposition) are sent as they are, never re-serialized. */
export const TextBody = Type.String();
/** A streamed file: Fastify pipes streams without serializing them. */
export const FileBody = Type.Unknown({ description: 'CSV or JSON file, streamed' });

import { Type } from 'typebox';
import { EmptyBody, IdParam, ListQuery, Nullable, Ok, PageOf, strict } from '../../protocol/http-schemas.js';
import { MAX_CT_CHARS, MAX_KID } from '../../protocol/sealing.js';
import { HISTORY_METRICS, HistorySchema, RESOLUTIONS } from '../history.js';
import { MachineDetailSchema, MachineRowSchema, MachineSummarySchema } from '../machine-view.js';
import { MACHINE_SORTS } from '../machines.js';
import { FactsSchema, MAX_REPORTS_PER_BATCH } from '../../protocol/report.js';
import { MACHINE_STATUSES } from '../status.js';

const Ms = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Cursor = Type.Optional(Type.String({ minLength: 1, maxLength: 512 }));

export { EmptyBody, IdParam, ListQuery, Ok };
/** Routes that take no input still refuse a body that is not an empty object. */

// --- agent routes -----------------------------------------------------------

export const EnrollBody = Type.Object({ token: Type.String({ minLength: 1, maxLength: 512 }), facts: FactsSchema }, strict);
export const EnrollResponse = Type.Object(
  {
    agentId: Type.String(),
    apiKey: Type.String(),
    kid: Type.Integer(),
    sealingKey: Type.String(),
    commandPublicKey: Type.String(),
    intervalSeconds: Type.Integer(),
  },
  strict,
);

/** The sealed envelope of docs/protocol.md; its exact checks are isSealedEnvelope's. */
const EnvelopeBody = Type.Object(
  {
    v: Type.Literal(1),
    kid: Type.Integer({ minimum: 1, maximum: MAX_KID }),
    ts: Ms,
    seq: Ms,
    nonce: Type.String({ maxLength: 64 }),
    ct: Type.String({ maxLength: MAX_CT_CHARS }),
  },
  strict,
);
/** A plaintext batch is recognised here so it can be answered `seal_required`; its reports are checked later. */
const PlaintextBody = Type.Object({ reports: Type.Array(Type.Unknown(), { maxItems: MAX_REPORTS_PER_BATCH }) }, strict);
export const ReportBody = Type.Union([EnvelopeBody, PlaintextBody]);

export const SignedCommandSchema = Type.Object(
  {
    id: Type.String(),
    agentId: Type.String(),
    action: Type.String(),
    params: Type.Object({}, { additionalProperties: true }),
    nonce: Type.String(),
    issuedAt: Type.Integer(),
    expiresAt: Type.Integer(),
    sig: Type.String(),
  },
  strict,
);
export const RekeySchema = Type.Object({ kid: Type.Integer(), nonce: Type.String(), ct: Type.String() }, strict);
export const ReportResponse = Type.Object(
  { accepted: Type.Integer(), commands: Type.Array(SignedCommandSchema), intervalSeconds: Type.Integer(), rekey: Type.Optional(RekeySchema) },
  strict,
);

// --- admin routes -----------------------------------------------------------

export const CreateEnrollmentToken = Type.Object(
  {
    ttlSeconds: Type.Integer({ minimum: 60, maximum: 31_536_000 }),
    maxUses: Type.Integer({ minimum: 1, maximum: 100_000 }),
    note: Type.Optional(Type.String({ maxLength: 256 })),
  },
  strict,
);
export const CreatedEnrollmentToken = Type.Object({ id: Type.String(), token: Type.String(), expiresAt: Type.Integer(), maxUses: Type.Integer() }, strict);
export const EnrollmentTokenSchema = Type.Object(
  {
    id: Type.String(),
    note: Nullable(Type.String()),
    maxUses: Type.Integer(),
    uses: Type.Integer(),
    expiresAt: Type.Integer(),
    revokedAt: Nullable(Type.Integer()),
    createdBy: Nullable(Type.String()),
    createdAt: Type.Integer(),
    state: Type.Enum(['active', 'expired', 'used_up', 'revoked']),
  },
  strict,
);
export const EnrollmentTokenPage = PageOf(EnrollmentTokenSchema);

const Status = Type.Enum(MACHINE_STATUSES);
export const AgentSchema = Type.Object(
  {
    id: Type.String(),
    hostname: Type.String(),
    kid: Type.Integer(),
    intervalSeconds: Type.Integer(),
    enrolledAt: Type.Integer(),
    lastSeenAt: Nullable(Type.Integer()),
    lastIp: Nullable(Type.String()),
    revokedAt: Nullable(Type.Integer()),
    status: Status,
  },
  strict,
);
export const AgentPage = PageOf(AgentSchema);
export const RotateQuery = Type.Object({ apiKey: Type.Optional(Type.Boolean()) }, strict);
export const RotateResponse = Type.Object({ agentId: Type.String(), kid: Type.Integer(), apiKey: Type.Optional(Type.String()) }, strict);

// --- fleet routes -----------------------------------------------------------

export { MachineDetailSchema, MachineRowSchema };
export const MachinePage = PageOf(MachineRowSchema);

const sorts = MACHINE_SORTS.flatMap((s) => [s, `-${s}`]);
export const MachineQuery = Type.Object(
  {
    search: Type.Optional(Type.String({ maxLength: 256 })),
    status: Type.Optional(Status),
    os: Type.Optional(Type.String({ maxLength: 256 })),
    tag: Type.Optional(Type.String({ maxLength: 128 })),
    sort: Type.Optional(Type.Enum(sorts)),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
    cursor: Cursor,
  },
  strict,
);

export const HistoryQuery = Type.Object(
  { from: Type.Optional(Ms), to: Type.Optional(Ms), metric: Type.Optional(Type.Enum(HISTORY_METRICS)), resolution: Type.Optional(Type.Enum(RESOLUTIONS)) },
  strict,
);
export { HistorySchema };

export const Tag = Type.String({ minLength: 1, maxLength: 128 });
export const TagsBody = Type.Object({ tags: Type.Array(Tag, { maxItems: 64 }) }, strict);
export const TagsResponse = Type.Object({ tags: Type.Array(Type.String()) }, strict);
export const TagList = Type.Object({ items: Type.Array(Type.Object({ tag: Type.String(), count: Type.Integer() }, strict)), next: Type.Null() }, strict);

export const SummarySchema = MachineSummarySchema;

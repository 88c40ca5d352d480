import { Type, type Static, type TSchema } from 'typebox';
import { FactsSchema, ReportSchema } from '../protocol/report.js';
import { MACHINE_STATUSES } from './status.js';

const strict = { additionalProperties: false } as const;
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Metric = Nullable(Type.Number());

/**
 * What leaves the server about a machine. The route schemas and the domain
 * types both come from these, so the list row, the detail and the live
 * `machine` event cannot disagree.
 */
export const MachineRowSchema = Type.Object(
  {
    id: Type.String(),
    hostname: Type.String(),
    os: Type.String(),
    platform: Type.String(),
    arch: Type.String(),
    serial: Nullable(Type.String()),
    agentVersion: Nullable(Type.String()),
    status: Type.Enum(MACHINE_STATUSES),
    intervalSeconds: Type.Integer(),
    enrolledAt: Type.Integer(),
    lastSeenAt: Nullable(Type.Integer()),
    decommissionedAt: Nullable(Type.Integer()),
    cpu: Metric,
    memory: Metric,
    swap: Metric,
    disk: Metric,
    netRx: Metric,
    netTx: Metric,
    load1: Metric,
    tags: Type.Array(Type.String()),
  },
  strict,
);
/** One row of the machine list, also the payload of the live `machine` event. */
export type MachineListRow = Static<typeof MachineRowSchema>;

/** The newest report's details, without facts (those have their own field). */
export const LatestReportSchema = Type.Omit(ReportSchema, ['facts']);
export type LatestReport = Static<typeof LatestReportSchema>;

export const MachineDetailSchema = Type.Object(
  {
    ...MachineRowSchema.properties,
    facts: FactsSchema,
    lastCollectedAt: Nullable(Type.Integer()),
    latest: Nullable(LatestReportSchema),
  },
  strict,
);
export type MachineDetail = Static<typeof MachineDetailSchema>;

export const MachineSummarySchema = Type.Object(
  {
    total: Type.Integer(),
    online: Type.Integer(),
    warning: Type.Integer(),
    offline: Type.Integer(),
    decommissioned: Type.Integer(),
    /** Means over machines that are online or warning; null when there are none. */
    averages: Type.Object({ cpu: Metric, memory: Metric, disk: Metric }, strict),
  },
  strict,
);
export type MachineSummary = Static<typeof MachineSummarySchema>;

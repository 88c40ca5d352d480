/**
 * The report an agent seals (docs/protocol.md):
 * the plaintext of `POST /api/agent/report` is `{reports: [Report, …]}`.
 * Pure: imports only typebox, because the agent builds its reports against it.
 * Every number, string and array is bounded and no object takes unknown keys,
 * so a report can never grow the database beyond what these limits allow.
 */
import { Type, type Static } from 'typebox';

const strict = { additionalProperties: false } as const;

/** Free text an operator may want verbatim (hostnames, serials): generous, but bounded. */
export const MAX_LONG_TEXT = 10_000;
export const MAX_REPORTS_PER_BATCH = 100;

const Text = (maxLength: number, minLength = 0) => Type.String({ minLength, maxLength });
const Bytes = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Percent = Type.Number({ minimum: 0, maximum: 100 });
const Load = Type.Number({ minimum: 0, maximum: 1_000_000 });

export const FactsDiskSchema = Type.Object(
  {
    name: Text(256, 1),
    model: Type.Optional(Text(256)),
    type: Type.Optional(Text(32)),
    sizeBytes: Type.Optional(Bytes),
  },
  strict,
);

export const FactsInterfaceSchema = Type.Object(
  {
    name: Text(256, 1),
    mac: Type.Optional(Text(64)),
    addresses: Type.Array(Text(64, 1), { maxItems: 64 }),
  },
  strict,
);

/** What a machine is; sent at enrollment and in a report whenever it changes. */
export const FactsSchema = Type.Object(
  {
    hostname: Text(MAX_LONG_TEXT, 1),
    os: Text(256, 1),
    platform: Text(64, 1),
    arch: Text(64, 1),
    kernel: Type.Optional(Text(256)),
    cpuModel: Type.Optional(Text(256)),
    cpuCores: Type.Optional(Type.Integer({ minimum: 1, maximum: 65_536 })),
    memoryBytes: Type.Optional(Bytes),
    serial: Type.Optional(Text(MAX_LONG_TEXT)),
    agentVersion: Type.Optional(Text(64)),
    disks: Type.Optional(Type.Array(FactsDiskSchema, { maxItems: 64 })),
    interfaces: Type.Optional(Type.Array(FactsInterfaceSchema, { maxItems: 64 })),
  },
  strict,
);

export const UsageSchema = Type.Object({ totalBytes: Bytes, usedBytes: Bytes }, strict);

export const CpuSchema = Type.Object(
  {
    /** Busy share of all cores, 0-100. */
    percent: Percent,
    perCore: Type.Optional(Type.Array(Percent, { maxItems: 1024 })),
    /** 1, 5 and 15 minute load averages. */
    load: Type.Optional(Type.Array(Load, { minItems: 3, maxItems: 3 })),
  },
  strict,
);

export const DiskUsageSchema = Type.Object({ mount: Text(1024, 1), fs: Type.Optional(Text(64)), totalBytes: Bytes, usedBytes: Bytes }, strict);

/** Cumulative byte counters since boot; the server turns them into rates. */
export const NetworkSchema = Type.Object({ iface: Text(256, 1), rxBytes: Bytes, txBytes: Bytes }, strict);

export const ProcessSchema = Type.Object(
  {
    pid: Type.Integer({ minimum: 0, maximum: 4_294_967_295 }),
    name: Text(256),
    /** Percent of one core; a busy multi-threaded process may exceed 100. */
    cpu: Type.Number({ minimum: 0, maximum: 100_000 }),
    /** Percent of total memory. */
    mem: Percent,
  },
  strict,
);

export const ProcessesSchema = Type.Object(
  {
    count: Type.Integer({ minimum: 0, maximum: 10_000_000 }),
    topCpu: Type.Optional(Type.Array(ProcessSchema, { maxItems: 10 })),
    topMemory: Type.Optional(Type.Array(ProcessSchema, { maxItems: 10 })),
  },
  strict,
);

export const BatterySchema = Type.Object({ percent: Percent, charging: Type.Boolean() }, strict);
export const TemperatureSchema = Type.Object({ cpuCelsius: Type.Number({ minimum: -273, maximum: 1000 }) }, strict);

export const ReportSchema = Type.Object(
  {
    /** When the values were measured, ms since the epoch (UTC); history is stored at this time. */
    collectedAt: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
    facts: Type.Optional(FactsSchema),
    cpu: Type.Optional(CpuSchema),
    memory: Type.Optional(UsageSchema),
    swap: Type.Optional(UsageSchema),
    disks: Type.Optional(Type.Array(DiskUsageSchema, { maxItems: 64 })),
    network: Type.Optional(Type.Array(NetworkSchema, { maxItems: 64 })),
    processes: Type.Optional(ProcessesSchema),
    uptimeSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000_000 })),
    battery: Type.Optional(BatterySchema),
    temperature: Type.Optional(TemperatureSchema),
  },
  strict,
);

/** The plaintext of one sealed envelope: a batch of 1 to 100 reports (a drained spool sends many). */
export const ReportBatchSchema = Type.Object({ reports: Type.Array(ReportSchema, { minItems: 1, maxItems: MAX_REPORTS_PER_BATCH }) }, strict);

export type Facts = Static<typeof FactsSchema>;
export type Report = Static<typeof ReportSchema>;
export type ReportBatch = Static<typeof ReportBatchSchema>;

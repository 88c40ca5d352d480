import type { Kysely } from 'kysely';
import type { Config, Secrets } from '../config/schema.js';
import type { Clock } from '../lib/clock.js';
import type { SignedCommand } from '../protocol/signing.js';
import type { Kv } from '../store/kv/kv.js';
import type { Database } from '../store/sql/tables.js';
import { AgentChannels } from './agent-channels.js';
import { AgentService } from './agents.js';
import { EnrollmentService } from './enrollment.js';
import { FleetEvents, type StreamAuthority } from './events.js';
import { HistoryService } from './history.js';
import { ReportIngest } from './ingest.js';
import { fleetKeys, type FleetKeys } from './keys.js';
import type { FleetLog } from './log.js';
import { MachineService } from './machines.js';
import { RollupJob } from './rollups.js';

export interface Fleet {
  keys: FleetKeys;
  enrollment: EnrollmentService;
  agents: AgentService;
  ingest: ReportIngest;
  machines: MachineService;
  history: HistoryService;
  events: FleetEvents;
  /** Agents' persistent channels on this node (commands pushed, disconnects signalled). */
  channels: AgentChannels;
  rollups: RollupJob;
  /** Starts the background job and the live-event subscription (server only, never the CLI). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface FleetOptions {
  db: Kysely<Database>;
  kv: Kv;
  clock: Clock;
  config: Config;
  secrets: Secrets;
  log: FleetLog;
  /** Re-checks the sessions behind open event streams (identity's SessionService). */
  streamAuthority: StreamAuthority;
  /** Background job period (default one minute). */
  jobIntervalMs?: number;
  /** Told how many reports a batch stored, after its commit (the ingest counter); must not throw. */
  onReportsAccepted?: (count: number) => void;
  /** Key material, when the caller derived it already (default: from secrets). */
  keys?: FleetKeys;
  /** Commands to hand an agent in its report answer. */
  pendingCommands?: (agentId: string) => Promise<SignedCommand[]>;
}

export function createFleet(opts: FleetOptions): Fleet {
  const { db, kv, clock, log } = opts;
  const settings = opts.config.fleet;
  const keys = opts.keys ?? fleetKeys(opts.secrets);
  const agents = new AgentService({ db, clock, keyGraceSeconds: settings.keyGraceSeconds });
  const machines = new MachineService({ db, clock });
  const { maxPerSession, maxPerUser, maxTotal } = settings.streams;
  const events = new FleetEvents({ kv, machines, log, clock, authority: opts.streamAuthority, limits: { perSession: maxPerSession, perUser: maxPerUser, total: maxTotal } });
  const ingest = new ReportIngest({
    db,
    clock,
    keys,
    settings: {
      requireSealing: settings.requireSealing,
      clockSkewSeconds: settings.clockSkewSeconds,
      reportIntervalSeconds: settings.reportIntervalSeconds,
      rawHours: settings.retention.rawHours,
    },
    onIngested: (machineId, accepted) => {
      if (accepted > 0) opts.onReportsAccepted?.(accepted);
      void events.machineChanged(machineId);
    },
    ...(opts.pendingCommands ? { pendingCommands: opts.pendingCommands } : {}),
  });
  const pendingCommands = opts.pendingCommands ?? (async () => []);
  const channels = new AgentChannels({ kv, clock, log, pendingFor: pendingCommands });
  const rollups = new RollupJob({ db, kv, clock, retention: settings.retention, log, intervalMs: opts.jobIntervalMs });
  return {
    keys,
    enrollment: new EnrollmentService({ db, clock, keys, intervalSeconds: () => settings.reportIntervalSeconds }),
    agents,
    ingest,
    machines,
    history: new HistoryService({ db, clock }),
    events,
    channels,
    rollups,
    async start() {
      await events.start();
      await channels.start();
      rollups.start();
    },
    async stop() {
      await rollups.stop();
      await channels.stop();
      await events.stop();
    },
  };
}

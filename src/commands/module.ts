import type { Kysely } from 'kysely';
import type { Config } from '../config/schema.js';
import type { Clock } from '../lib/clock.js';
import type { CommandSigner } from '../protocol/signing.js';
import type { Kv } from '../store/kv/kv.js';
import type { Database } from '../store/sql/tables.js';
import type { CommandAudit } from './audit.js';
import { CommandDelivery, type DeliveryLog } from './delivery.js';
import { CommandReads } from './history.js';
import { RequestService } from './requests.js';
import { ResultIngest } from './results.js';

export interface Commands {
  requests: RequestService;
  reads: CommandReads;
  delivery: CommandDelivery;
  results: ResultIngest;
  /** Brings back the delivery flags of queued commands (server start). */
  start(): Promise<void>;
}

export interface CommandsOptions {
  db: Kysely<Database>;
  kv: Kv;
  clock: Clock;
  config: Config;
  signer: CommandSigner;
  sealingKey: (agentId: string, kid: number) => Uint8Array;
  audit: CommandAudit;
  log: DeliveryLog;
  /** Told which agents have new commands queued, once they can be handed out (the channels' nudge). */
  onQueued?: (agentIds: string[]) => void;
}

export function createCommands(opts: CommandsOptions): Commands {
  const { db, kv, clock, audit, config } = opts;
  const settings = config.commands;
  if (settings.defaultTtlSeconds > settings.maxTtlSeconds) throw new Error('commands.defaultTtlSeconds is above commands.maxTtlSeconds');
  const delivery = new CommandDelivery({ db, kv, clock, audit, log: opts.log });
  return {
    requests: new RequestService({ db, clock, signer: opts.signer, audit, settings, onQueued: async (ids, expiresAt) => {
        await delivery.markQueued(ids, expiresAt);
        opts.onQueued?.(ids);
      },
    }),
    reads: new CommandReads(db, clock),
    delivery,
    results: new ResultIngest({ db, clock, audit, sealingKey: opts.sealingKey, clockSkewSeconds: config.fleet.clockSkewSeconds }),
    start: () => delivery.restoreFlags(),
  };
}

import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Command } from 'commander';
import type { ExportFormat } from '../security/audit/export.js';
import type { AuditFilter } from '../security/audit/query.js';
import type { VerifyResult } from '../security/audit/verify.js';
import { createLogger } from '../server/logger.js';
import { openServices, type Services } from '../server/services.js';
import { CliError, configFrom, type GlobalOptions } from './context.js';

async function withServices<T>(opts: GlobalOptions, run: (services: Services) => Promise<T>): Promise<T> {
  const services = await openServices(await configFrom(opts), { log: createLogger('warn') });
  try {
    return await run(services);
  } finally {
    await services.close();
  }
}

function describeResult(r: VerifyResult): string {
  if (r.ok) return `audit chain ok: ${r.count} entries (seq ${r.firstSeq ?? '-'}..${r.lastSeq ?? '-'}), head ${r.head ?? '-'}, ${r.checkpoints} checkpoints, signed head at seq ${r.signedHeadSeq ?? '-'}`;
  return `audit chain BROKEN at seq ${r.broken?.seq ?? '?'}: ${r.broken?.reason ?? 'unknown'}: ${r.message ?? '-'} (${r.count} entries verified before it)`;
}

function intOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value)) throw new CliError(`--${name}: expected milliseconds since the epoch, got "${value.slice(0, 20)}"`);
  return Number(value);
}

/** `flotilla audit verify|export|checkpoint`. */
export function registerAuditCommands(program: Command, out: (line: string) => void): void {
  const audit = program.command('audit').description('verify and export the audit log');
  const globals = (cmd: Command) => cmd.optsWithGlobals<GlobalOptions>();

  audit
    .command('verify')
    .description('walk the whole chain, the signed checkpoints and the signed head; exit 1 at the first break')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const result = await withServices(globals(cmd), (s) => s.security.audit.verify());
      out(opts.json ? JSON.stringify(result) : describeResult(result));
      if (!result.ok) process.exitCode = 1;
    });

  audit
    .command('export')
    .description('write the log (oldest first) as CSV or JSON, with hashes, to stdout or a file')
    .option('--format <format>', 'csv or json', 'json')
    .option('--output <file>', 'write to this file (created 0600) instead of stdout')
    .option('--action <action>', 'only this action')
    .option('--actor <id>', 'only this actor id')
    .option('--from <ms>', 'from this time (ms since the epoch)')
    .option('--to <ms>', 'up to this time (ms since the epoch)')
    .action(async (opts: { format: string; output?: string; action?: string; actor?: string; from?: string; to?: string }, cmd: Command) => {
      if (opts.format !== 'csv' && opts.format !== 'json') throw new CliError(`--format must be csv or json, got "${opts.format.slice(0, 20)}"`);
      const format: ExportFormat = opts.format;
      const filter: AuditFilter = { action: opts.action, actorId: opts.actor, from: intOption('from', opts.from), to: intOption('to', opts.to) };
      await withServices(globals(cmd), async (s) => {
        const sink = opts.output ? createWriteStream(opts.output, { mode: 0o600, flags: 'wx' }) : process.stdout;
        for await (const chunk of s.security.audit.export(format, filter)) {
          if (!sink.write(chunk)) await once(sink, 'drain');
        }
        if (sink !== process.stdout) {
          sink.end();
          await once(sink, 'finish');
        }
      });
    });

  audit
    .command('checkpoint')
    .description('write a signed checkpoint of the chain head now')
    .action(async (_opts: unknown, cmd: Command) => {
      const mark = await withServices(globals(cmd), (s) => s.security.audit.checkpoint());
      out(mark ? `checkpoint seq=${mark.seq} hash=${mark.hash}` : 'nothing new to checkpoint');
    });
}

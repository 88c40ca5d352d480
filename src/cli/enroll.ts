import type { Command } from 'commander';
import type { EnrollmentService } from '../fleet/enrollment.js';
import { isId } from '../lib/ids.js';
import { createLogger } from '../server/logger.js';
import { openServices } from '../server/services.js';
import type { RunningServer } from '../server/start.js';
import { CliError, configFrom, type GlobalOptions } from './context.js';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
const MIN_TTL = 60;
const MAX_TTL = 365 * 86400;
const MAX_USES = 100_000;

/** `90s`, `30m`, `24h`, `7d` -> seconds, within what the API accepts. */
export function parseTtl(value: string): number {
  const match = /^([1-9][0-9]{0,6})([smhd])$/.exec(value);
  const seconds = match ? Number(match[1]) * (UNIT_SECONDS[match[2] ?? ''] ?? 0) : NaN;
  if (!Number.isSafeInteger(seconds) || seconds < MIN_TTL || seconds > MAX_TTL) {
    throw new CliError(`--ttl: expected a duration like 30m, 24h or 7d between 1m and 365d, got "${value.slice(0, 20)}"`);
  }
  return seconds;
}

function parseUses(value: string): number {
  const uses = Number(value);
  if (!/^[0-9]{1,6}$/.test(value) || uses < 1 || uses > MAX_USES) throw new CliError(`--uses: expected an integer from 1 to ${MAX_USES}, got "${value.slice(0, 20)}"`);
  return uses;
}

/** The exact command an operator runs on a machine to enroll it. */
export function enrollCommand(serverUrl: string, token: string, pin?: string): string {
  return `flotilla agent enroll --server ${serverUrl} --token ${token}${pin ? ` --pin ${pin}` : ''}`;
}

/**
 * On the first start, a token for the next few machines (24 h, 10 uses), with
 * the command to run on each: printed once, listed and revocable like any other.
 */
export async function printFirstEnrollCommand(server: RunningServer, out: (line: string) => void): Promise<void> {
  const { config, fleet } = server.services;
  const created = await fleet.enrollment.createToken({ ttlSeconds: 86_400, maxUses: 10, note: 'first start' }, null);
  const serverUrl = config.server.publicUrl ?? server.url;
  const pin = server.certificate.selfSigned ? server.certificate.fingerprint : undefined;
  out(`enroll a machine (token valid 24 h, 10 uses): ${enrollCommand(serverUrl, created.token, pin)}`);
}

async function withEnrollment<T>(opts: GlobalOptions, run: (enrollment: EnrollmentService, serverUrl: string) => Promise<T>): Promise<T> {
  const config = await configFrom(opts);
  const services = await openServices(config, { log: createLogger('warn') });
  try {
    return await run(services.fleet.enrollment, config.server.publicUrl ?? `https://localhost:${config.server.port}`);
  } finally {
    await services.close();
  }
}

/** `flotilla enroll create|list|revoke`: enrollment tokens, on the database directly. */
export function registerEnrollCommands(program: Command, out: (line: string) => void): void {
  const enroll = program.command('enroll').description('manage agent enrollment tokens (works on the database directly)');
  const globals = (cmd: Command) => cmd.optsWithGlobals<GlobalOptions>();

  enroll
    .command('create')
    .description('create an enrollment token; prints it once')
    .option('--ttl <duration>', 'lifetime, e.g. 30m, 24h, 7d', '24h')
    .option('--uses <n>', 'how many agents may enroll with it', '1')
    .option('--note <text>', 'a note for the token list')
    .action(async (opts: { ttl: string; uses: string; note?: string }, cmd: Command) => {
      const ttlSeconds = parseTtl(opts.ttl);
      const maxUses = parseUses(opts.uses);
      if (opts.note !== undefined && opts.note.length > 256) throw new CliError('--note: at most 256 characters');
      await withEnrollment(globals(cmd), async (enrollment, serverUrl) => {
        const created = await enrollment.createToken({ ttlSeconds, maxUses, note: opts.note ?? null }, null);
        out(`created enrollment token id=${created.id} uses=${created.maxUses} expires=${new Date(created.expiresAt).toISOString()}`);
        out(`token: ${created.token}`);
        out(`enroll an agent with: ${enrollCommand(serverUrl, created.token)}`);
      });
    });

  enroll
    .command('list')
    .description('list enrollment tokens (never their secrets)')
    .option('--json', 'one JSON object per line')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withEnrollment(globals(cmd), async (enrollment) => {
        let cursor: string | undefined;
        do {
          const page = await enrollment.listTokens({ limit: 500, cursor });
          for (const t of page.items) {
            out(opts.json ? JSON.stringify(t) : `${t.id}\t${t.state}\t${t.uses}/${t.maxUses}\t${new Date(t.expiresAt).toISOString()}\t${t.note ?? ''}`);
          }
          cursor = page.next ?? undefined;
        } while (cursor);
      });
    });

  enroll
    .command('revoke <id>')
    .description('revoke an enrollment token')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      if (!isId(id)) throw new CliError(`not a token id: "${id.slice(0, 40)}"`);
      await withEnrollment(globals(cmd), (enrollment) => enrollment.revokeToken(id));
      out(`enrollment token ${id} revoked`);
    });
}

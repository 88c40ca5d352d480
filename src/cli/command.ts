import type { Command } from 'commander';
import { TransportError } from '../agent/transport.js';
import { parsePin, readCaFile, TrustError, type ServerTrust } from '../agent/trust.js';
import { isId } from '../lib/ids.js';
import type { CommandDetailView, CommandRequestView } from '../commands/view.js';
import { ApiClient, ApiError, ConnectError } from './api-client.js';

/** A mistake in how the CLI was called (exit 2), as opposed to a refusal or failure (exit 1). */
class UsageError extends Error {}

interface ConnectFlags {
  server?: string;
  ca?: string;
  pin?: string;
  json?: boolean;
}

type CommandRequest = CommandRequestView;
type CommandDetail = CommandDetailView;

const TTL_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600 };
/** What POST /api/commands accepts for ttlSeconds. */
const MIN_TTL = 10;
const MAX_TTL = 86_400;

/** `90s`, `10m`, `2h` -> seconds. */
function parseTtl(value: string): number {
  const match = /^([1-9][0-9]{0,5})([smh])$/.exec(value);
  const seconds = match ? Number(match[1]) * (TTL_UNITS[match[2] ?? ''] ?? 0) : NaN;
  if (!Number.isSafeInteger(seconds) || seconds < MIN_TTL || seconds > MAX_TTL) {
    throw new UsageError(`--ttl: expected a duration like 90s, 10m or 2h between 10s and 24h, got "${value.slice(0, 20)}"`);
  }
  return seconds;
}

function idOf(name: string, value: string): string {
  if (!isId(value)) throw new UsageError(`${name}: not an id: "${value.slice(0, 40)}"`);
  return value;
}

const collect = (value: string, previous: string[]) => [...previous, value];

async function trustOf(flags: ConnectFlags): Promise<ServerTrust> {
  const ca = flags.ca ?? process.env.FLOTILLA_CA;
  const pin = flags.pin ?? process.env.FLOTILLA_PIN;
  if (ca && pin) throw new UsageError('use either --ca or --pin (FLOTILLA_CA or FLOTILLA_PIN), not both');
  if (pin) return { kind: 'pin', fingerprint: parsePin(pin) };
  if (ca) return { kind: 'ca', caPem: await readCaFile(ca) };
  return { kind: 'system' };
}

/** The token comes only from the environment: a flag would show in `ps` and shell history. */
async function clientOf(flags: ConnectFlags): Promise<ApiClient> {
  const server = flags.server ?? process.env.FLOTILLA_SERVER;
  if (!server) throw new UsageError('no server: pass --server https://host:port or set FLOTILLA_SERVER');
  const token = process.env.FLOTILLA_TOKEN;
  if (!token) throw new UsageError('no access token: set FLOTILLA_TOKEN to a bearer access token (POST /api/auth/token)');
  return new ApiClient(server.replace(/\/+$/, ''), await trustOf(flags), token);
}

/**
 * Runs one subcommand against the API. Refusals print `error: <code>: <message>`
 * and exit 1, usage mistakes exit 2; neither prints a stack.
 */
async function withApi(flags: ConnectFlags, run: (api: ApiClient) => Promise<void>): Promise<void> {
  let api: ApiClient | null = null;
  try {
    api = await clientOf(flags);
    await run(api);
  } catch (err) {
    if (err instanceof UsageError) return fail(err.message, 2);
    if (err instanceof ApiError) return fail(`${err.code}: ${err.message}`, 1);
    if (err instanceof ConnectError || err instanceof TrustError || err instanceof TransportError) return fail(err.message, 1);
    throw err;
  } finally {
    api?.close();
  }
}

function fail(message: string, code: number): void {
  process.stderr.write(`error: ${message}\n`);
  process.exitCode = code;
}

const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
const targetOf = (r: CommandRequest) => ('tag' in r.target ? `tag:${r.target.tag}` : `machines:${r.target.machines.length}`);
const approvalsOf = (r: CommandRequest) => `${r.approvals.filter((a) => a.decision === 'approved').length}/${r.approvalsRequired}`;

function summary(r: CommandRequest): string {
  return `${r.id}\t${r.state}\t${r.action}\t${targetOf(r)}\tapprovals ${approvalsOf(r)}\t${iso(r.createdAt)}`;
}

function describe(r: CommandDetail): string[] {
  const lines = [
    `id: ${r.id}`,
    `action: ${r.action}${r.action === 'run_script' ? ` ${JSON.stringify(r.params)}` : ''}`,
    `state: ${r.state}`,
    `target: ${'tag' in r.target ? `tag ${r.target.tag}` : r.target.machines.join(' ')}`,
    `requested by: ${r.requestedBy} at ${iso(r.createdAt)}`,
    `approvals: ${approvalsOf(r)} (window until ${iso(r.approvalExpiresAt)})`,
  ];
  for (const a of r.approvals) lines.push(`  ${a.decision} by ${a.userId} at ${iso(a.at)}`);
  const counts = Object.entries(r.progress).filter(([, n]) => n > 0);
  lines.push(`progress: ${counts.length > 0 ? counts.map(([s, n]) => `${s} ${n}`).join(', ') : 'no commands'}`);
  for (const m of r.machines) {
    lines.push(`  ${m.machineId}\t${m.state}${m.exitCode === null ? '' : `\texit ${m.exitCode}`}${m.reason ? `\t${m.reason}` : ''}`);
  }
  return lines;
}

/** `flotilla command send|list|show|approve|reject|cancel`: remote commands through the HTTP API (docs/api.md "Commands"). */
export function registerCommandCommands(program: Command, out: (line: string) => void): void {
  const command = program
    .command('command')
    .description('request, follow and decide remote commands through the HTTP API (token in FLOTILLA_TOKEN)')
    .option('--server <url>', 'server URL, https://host:port (also FLOTILLA_SERVER)')
    .option('--ca <file>', 'trust this CA certificate file (PEM) for the server (also FLOTILLA_CA)')
    .option('--pin <fingerprint>', 'trust exactly this server certificate, sha256:<hex> (also FLOTILLA_PIN)');
  const flags = (cmd: Command) => cmd.optsWithGlobals<ConnectFlags>();
  const print = (json: boolean | undefined, body: unknown, lines: () => string[]) => {
    if (json) out(JSON.stringify(body, null, 2));
    else for (const line of lines()) out(line);
  };

  command
    .command('send')
    .description('request a command on machines (by id) or on every machine with a tag')
    .requiredOption('--action <action>', 'ping, collect, diagnostics, restart_agent or run_script')
    .option('--machine <id>', 'target machine id (repeatable)', collect, [])
    .option('--tag <tag>', 'target every machine with this tag')
    .option('--sha256 <hex>', 'run_script: SHA-256 of the script the agent must find')
    .option('--arg <value>', 'run_script: an argument (repeatable)', collect, [])
    .option('--ttl <duration>', 'command lifetime after approval, e.g. 90s, 10m, 2h')
    .option('--json', 'print the API answer as JSON')
    .action(async (opts: { action: string; machine: string[]; tag?: string; sha256?: string; arg: string[]; ttl?: string; json?: boolean }, cmd: Command) => {
      await withApi(flags(cmd), async (api) => {
        if ((opts.machine.length > 0) === (opts.tag !== undefined)) throw new UsageError('name the targets: --machine ID (repeatable) or --tag T, not both');
        const machines = opts.machine.map((m) => idOf('--machine', m));
        if (opts.arg.length > 0 && opts.sha256 === undefined) throw new UsageError('--arg needs --sha256 (run_script)');
        const body = {
          action: opts.action,
          params: opts.sha256 === undefined ? {} : { sha256: opts.sha256, args: opts.arg },
          targets: opts.tag === undefined ? { machines } : { tag: opts.tag },
          ...(opts.ttl === undefined ? {} : { ttlSeconds: parseTtl(opts.ttl) }),
        };
        const created = (await api.post('/api/commands', body)) as CommandRequest;
        print(opts.json, created, () => [`requested ${created.id}: ${created.action} on ${targetOf(created)}, ${created.state} (approvals ${approvalsOf(created)})`]);
      });
    });

  command
    .command('list')
    .description('list command requests, newest first')
    .option('--state <state>', 'pending_approval, approved, rejected, cancelled or expired')
    .option('--machine <id>', 'only requests that target this machine')
    .option('--limit <n>', 'at most this many (1-200)', '50')
    .option('--cursor <cursor>', 'continue after a previous page (its "next")')
    .option('--json', 'print the API answer as JSON')
    .action(async (opts: { state?: string; machine?: string; limit: string; cursor?: string; json?: boolean }, cmd: Command) => {
      await withApi(flags(cmd), async (api) => {
        if (opts.machine !== undefined) idOf('--machine', opts.machine);
        const page = (await api.get('/api/commands', { state: opts.state, machine: opts.machine, limit: opts.limit, cursor: opts.cursor })) as { items: CommandRequest[]; next: string | null };
        print(opts.json, page, () => [...page.items.map(summary), ...(page.next ? [`more: --cursor ${page.next}`] : [])]);
      });
    });

  command
    .command('show <id>')
    .description('one request with its approvals, progress and the state on each machine')
    .option('--json', 'print the API answer as JSON')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      await withApi(flags(cmd), async (api) => {
        const detail = (await api.get(`/api/commands/${idOf('id', id)}`)) as CommandDetail;
        print(opts.json, detail, () => describe(detail));
      });
    });

  for (const decision of ['approve', 'reject'] as const) {
    command
      .command(`${decision} <id>`)
      .description(`${decision} a request awaiting approval (admins; not your own; the token's login must be under 5 minutes old)`)
      .option('--comment <text>', 'a comment kept with the decision')
      .option('--json', 'print the API answer as JSON')
      .action(async (id: string, opts: { comment?: string; json?: boolean }, cmd: Command) => {
        await withApi(flags(cmd), async (api) => {
          const path = `/api/commands/${idOf('id', id)}/${decision}`;
          const decided = (await api.post(path, opts.comment === undefined ? {} : { comment: opts.comment })) as CommandRequest;
          print(opts.json, decided, () => [`${decided.id}: ${decision === 'approve' ? 'approved' : 'rejected'}, now ${decided.state} (approvals ${approvalsOf(decided)})`]);
        });
      });
  }

  command
    .command('cancel <id>')
    .description('cancel a request no machine has received yet')
    .option('--json', 'print the API answer as JSON')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      await withApi(flags(cmd), async (api) => {
        const cancelled = (await api.post(`/api/commands/${idOf('id', id)}/cancel`, {})) as CommandRequest;
        print(opts.json, cancelled, () => [`${cancelled.id}: ${cancelled.state}`]);
      });
    });
}

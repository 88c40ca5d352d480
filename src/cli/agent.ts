import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { MetricsCollector } from '../agent/collect.js';
import { enrollAgent, EnrollError } from '../agent/enroll.js';
import { FileIdentityStore, IdentityError } from '../agent/identity.js';
import { lineLog, type LogLevel } from '../agent/log.js';
import { loadPolicy, PolicyError, policyLocation, type EffectivePolicy } from '../agent/policy.js';
import { RESTART_EXIT_CODE, runAgent, SPOOL_DIR } from '../agent/run.js';
import { SeenCommandsError } from '../agent/seen-commands.js';
import { simulateFleet } from '../agent/simulate.js';
import { parseServerUrl, TransportError } from '../agent/transport.js';
import { parsePin, readCaFile, TrustError, type ServerTrust } from '../agent/trust.js';
import { systemClock } from '../lib/clock.js';
import { CliError, type GlobalOptions } from './context.js';

interface TrustFlags {
  ca?: string;
  pin?: string;
}

/** `--state-dir`, else FLOTILLA_AGENT_STATE_DIR, else `<data-dir>/agent`. */
function stateDirOf(opts: { stateDir?: string }, globals: GlobalOptions): string {
  return resolve(opts.stateDir ?? process.env.FLOTILLA_AGENT_STATE_DIR ?? join(globals.dataDir ?? 'data', 'agent'));
}

async function trustOf(flags: TrustFlags): Promise<ServerTrust> {
  if (flags.ca && flags.pin) throw new CliError('use either --ca or --pin, not both');
  if (flags.pin) return { kind: 'pin', fingerprint: parsePin(flags.pin) };
  if (flags.ca) return { kind: 'ca', caPem: await readCaFile(flags.ca) };
  return { kind: 'system' };
}

function tokenOf(flag: string | undefined): string {
  const token = flag ?? process.env.FLOTILLA_ENROLL_TOKEN;
  if (!token) throw new CliError('an enrollment token is required: --token fle_… (or FLOTILLA_ENROLL_TOKEN)');
  return token;
}

function serverOf(flag: string): string {
  parseServerUrl(flag);
  return flag.replace(/\/+$/, '');
}

function positiveInt(name: string, value: string | undefined, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d{1,9}$/.test(value) || n < 1 || n > max) throw new CliError(`${name}: expected an integer from 1 to ${max}, got "${value.slice(0, 20)}"`);
  return n;
}

/** Agent-side failures are meant for the person at the terminal: one line each. */
async function asCliErrors<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (
      err instanceof EnrollError ||
      err instanceof TrustError ||
      err instanceof IdentityError ||
      err instanceof TransportError ||
      err instanceof PolicyError ||
      err instanceof SeenCommandsError
    ) {
      throw new CliError(err.message, { cause: err });
    }
    throw err;
  }
}

/** Stops on SIGINT / SIGTERM through an AbortSignal, so the loop ends cleanly. */
function stopSignal(): AbortSignal {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return controller.signal;
}

/** `flotilla agent enroll|run|simulate` (docs/protocol.md). */
export function registerAgentCommands(program: Command, out: (line: string) => void): void {
  const agent = program.command('agent').description('run the agent on this machine, or simulate a fleet');
  const globals = (cmd: Command) => cmd.optsWithGlobals<GlobalOptions>();

  agent
    .command('enroll')
    .description('enroll this machine with a server; writes the identity file (0600) to the state dir')
    .requiredOption('--server <url>', 'server URL, https://host:port')
    .option('--token <token>', 'enrollment token fle_… (also FLOTILLA_ENROLL_TOKEN)')
    .option('--ca <file>', 'trust this CA certificate file (PEM) for the server')
    .option('--pin <fingerprint>', 'trust exactly this server certificate, sha256:<hex> as the server prints it')
    .option('--state-dir <dir>', 'agent state directory (default <data-dir>/agent, or FLOTILLA_AGENT_STATE_DIR)')
    .option('--force', 'replace an existing identity (the old agent stays on the server until decommissioned)')
    .action(async (opts: TrustFlags & { server: string; token?: string; stateDir?: string; force?: boolean }, cmd: Command) => {
      await asCliErrors(async () => {
        const serverUrl = serverOf(opts.server);
        const token = tokenOf(opts.token);
        const trust = await trustOf(opts);
        const store = new FileIdentityStore(stateDirOf(opts, globals(cmd)));
        if ((await store.exists()) && !opts.force) throw new CliError(`this machine is already enrolled (${store.file}); pass --force to enroll it again as a new agent`);
        const facts = await new MetricsCollector({ clock: systemClock }).facts();
        const state = await enrollAgent({ serverUrl, token, trust, facts, store, clock: systemClock });
        // Reports spooled for the previous identity can no longer be sent.
        if (opts.force) await rm(join(store.stateDir, SPOOL_DIR), { recursive: true, force: true });
        out(`enrolled agent ${state.identity.agentId}`);
        out(`identity written to ${store.file} (0600); start it with: flotilla agent run --state-dir ${store.stateDir}`);
      });
    });

  agent
    .command('run')
    .description('collect and send reports until stopped (SIGINT/SIGTERM)')
    .option('--state-dir <dir>', 'agent state directory (default <data-dir>/agent, or FLOTILLA_AGENT_STATE_DIR)')
    .option('--log-level <level>', 'info, warn, error or silent', 'info')
    .option('--policy <file>', 'command policy file (default /etc/flotilla/agent-policy.json, or FLOTILLA_AGENT_POLICY)')
    .action(async (opts: { stateDir?: string; logLevel: string; policy?: string }, cmd: Command) => {
      if (!['info', 'warn', 'error', 'silent'].includes(opts.logLevel)) throw new CliError('--log-level must be info, warn, error or silent');
      const exit = await asCliErrors(() =>
        runAgent({ stateDir: stateDirOf(opts, globals(cmd)), log: lineLog(opts.logLevel as LogLevel), signal: stopSignal(), policy: policyLocation(opts.policy) }),
      );
      // A distinct code, so the service manager (Restart=on-failure) starts the agent again.
      if (exit === 'restart') process.exit(RESTART_EXIT_CODE);
    });

  agent
    .command('policy')
    .description('print the command policy the agent would apply (refuses, as the agent does, a policy others could change)')
    .option('--policy <file>', 'command policy file (default /etc/flotilla/agent-policy.json, or FLOTILLA_AGENT_POLICY)')
    .option('--json', 'print JSON')
    .action(async (opts: { policy?: string; json?: boolean }) => {
      const policy = await asCliErrors(() => loadPolicy(policyLocation(opts.policy)));
      if (opts.json) out(JSON.stringify(policy, null, 2));
      else for (const line of describePolicy(policy)) out(line);
    });

  agent
    .command('simulate')
    .description('enroll N simulated machines and send synthetic reports from this process (load tests, demos)')
    .requiredOption('--server <url>', 'server URL, https://host:port')
    .option('--token <token>', 'enrollment token with at least N uses (also FLOTILLA_ENROLL_TOKEN)')
    .requiredOption('--count <n>', 'number of machines')
    .option('--ca <file>', 'trust this CA certificate file (PEM)')
    .option('--pin <fingerprint>', 'trust exactly this server certificate (sha256:<hex>)')
    .option('--interval <seconds>', 'seconds between reports (default: what the server says)')
    .option('--hostname <name>', 'use this hostname (the first machine exactly, then <name>-2, …)')
    .option('--concurrency <n>', 'requests in flight at once', '16')
    .option('--rounds <n>', 'reports per machine, then exit (default: until stopped)')
    .option('--seed <n>', 'seed for reproducible machines')
    .action(
      async (
        opts: TrustFlags & { server: string; token?: string; count: string; interval?: string; hostname?: string; concurrency: string; rounds?: string; seed?: string },
      ) => {
        await asCliErrors(async () => {
          const count = positiveInt('--count', opts.count, 100_000) as number;
          const summary = await simulateFleet({
            serverUrl: serverOf(opts.server),
            token: tokenOf(opts.token),
            trust: await trustOf(opts),
            count,
            intervalSeconds: positiveInt('--interval', opts.interval, 86_400),
            hostname: opts.hostname,
            concurrency: positiveInt('--concurrency', opts.concurrency, 1024),
            rounds: positiveInt('--rounds', opts.rounds, 1_000_000),
            seed: positiveInt('--seed', opts.seed, 1_000_000_000),
            log: lineLog('warn'),
            signal: stopSignal(),
            onEnrolled: (machines) => {
              for (const m of machines) out(`${m.agentId}\t${JSON.stringify(m.hostname)}`);
            },
          });
          out(`simulated ${summary.machines.length} machines: ${summary.reportsSent} reports sent, ${summary.failures} failed sends`);
        });
      },
    );
}

function describePolicy(policy: EffectivePolicy): string[] {
  const lines = [`policy: ${policy.source ?? 'none found; only ping is allowed'}`, `max timeout: ${policy.maxTimeoutSeconds}s`];
  for (const [action, entry] of Object.entries(policy.actions)) lines.push(`allowed: ${action} (timeout ${entry.timeoutSeconds}s)`);
  if (policy.runScript) {
    lines.push(`run_script working directory: ${policy.runScript.workingDirectory}`);
    for (const s of policy.runScript.scripts) lines.push(`  script ${s.path} sha256 ${s.sha256} args ${JSON.stringify(s.args)}`);
    for (const d of policy.runScript.directories) lines.push(`  directory ${d.path} args ${JSON.stringify(d.args)}`);
  }
  lines.push('rotate_signing_key: always accepted when signed by the pinned key');
  return lines;
}

import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/errors.js';
import { DomainError } from '../lib/errors.js';
import { runMigrations } from '../server/services.js';
import { startServer } from '../server/start.js';
import { CliError, configFrom, type GlobalOptions } from './context.js';
import { registerAgentCommands } from './agent.js';
import { registerAuditCommands } from './audit.js';
import { registerCommandCommands } from './command.js';
import { printFirstEnrollCommand, registerEnrollCommands } from './enroll.js';
import { localAgentEnabled, startLocalAgent, type LocalAgent } from './local-agent.js';
import { registerUserCommands } from './user.js';

export function buildProgram(out: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Command {
  const program = new Command('flotilla')
    .description('Flotilla: self-hosted, security-first fleet monitoring and management')
    .option('--config <file>', 'YAML configuration file (also FLOTILLA_CONFIG)')
    .option('--data-dir <dir>', 'data directory (default ./data)')
    .exitOverride();

  program
    .command('server')
    .description('run the server')
    .option('--host <host>', 'listen address')
    .option('--port <port>', 'HTTPS port (default 8768)')
    .action(async (opts: { host?: string; port?: string }, cmd: Command) => {
      const config = await configFrom({ ...cmd.optsWithGlobals<GlobalOptions>(), ...opts });
      let local: LocalAgent | null = null;
      const server = await startServer(config, { print: out, onCertificateRenewed: (cert) => local?.repin(cert) });
      if (server.firstRun) await printFirstEnrollCommand(server, out);
      if (localAgentEnabled(config)) {
        // The server is useful without it: a failure to enroll is logged, not fatal.
        local = await startLocalAgent(server).catch((err: unknown) => {
          server.services.log.error({ err: { message: (err as Error).message } }, 'local agent not started');
          return null;
        });
      }
      const stop = () => {
        void (local?.stop() ?? Promise.resolve())
          .then(() => server.close())
          .then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

  program
    .command('migrate')
    .description('apply pending database migrations')
    .action(async (_opts: unknown, cmd: Command) => {
      const applied = await runMigrations(await configFrom(cmd.optsWithGlobals<GlobalOptions>()));
      out(applied.length > 0 ? `applied ${applied.join(', ')}` : 'database is up to date');
    });

  registerUserCommands(program, out);
  registerAgentCommands(program, out);
  registerEnrollCommands(program, out);
  registerAuditCommands(program, out);
  registerCommandCommands(program, out);
  return program;
}

/** Errors meant for a person print as one line; anything else is a bug and keeps its stack. */
function explain(err: unknown): string | null {
  if (err instanceof ConfigError || err instanceof CliError) return err.message;
  if (err instanceof DomainError) return `${err.code}: ${err.message}`;
  return null;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    const message = explain(err);
    process.stderr.write(`flotilla: ${message ?? (err instanceof Error ? err.message : String(err))}\n`);
    if (message === null && process.env.FLOTILLA_DEBUG === '1') process.stderr.write(`${String((err as Error).stack)}\n`);
    process.exitCode = 1;
  }
}

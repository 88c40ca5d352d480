import type { Command } from 'commander';
import { isRole, type Role } from '../identity/roles.js';
import type { UserService } from '../identity/users/service.js';
import { generatePassword } from '../server/bootstrap.js';
import { createLogger } from '../server/logger.js';
import { openServices } from '../server/services.js';
import { CliError, configFrom, readPasswordFromStdin, type GlobalOptions } from './context.js';

const CLI_ACTOR = { id: null, ip: null };

async function withUsers<T>(opts: GlobalOptions, run: (users: UserService) => Promise<T>): Promise<T> {
  const config = await configFrom(opts);
  const services = await openServices(config, { log: createLogger('warn') });
  try {
    return await run(services.identity.users);
  } finally {
    await services.close();
  }
}

function roleArg(value: string): Role {
  if (!isRole(value)) throw new CliError(`role must be admin, operator or viewer, got "${value.slice(0, 20)}"`);
  return value;
}

async function passwordOrGenerated(fromStdin: boolean | undefined): Promise<{ password: string; generated: boolean }> {
  return fromStdin ? { password: readPasswordFromStdin(), generated: false } : { password: generatePassword(), generated: true };
}

/** `flotilla user create|passwd|role|suspend|unsuspend|list`, working on the database directly. */
export function registerUserCommands(program: Command, out: (line: string) => void): void {
  const user = program.command('user').description('manage users (works on the database directly)');
  const globals = (cmd: Command) => cmd.optsWithGlobals<GlobalOptions>();

  user
    .command('create <username>')
    .description('create a user; prints a one-time password unless --password-stdin')
    .option('--role <role>', 'admin, operator or viewer', 'viewer')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (username: string, opts: { role: string; passwordStdin?: boolean }, cmd: Command) => {
      const role = roleArg(opts.role);
      const { password, generated } = await passwordOrGenerated(opts.passwordStdin);
      const created = await withUsers(globals(cmd), (users) => users.create({ username, password, role, mustChangePassword: true }, CLI_ACTOR));
      out(`created user ${created.username} (${created.role}) id=${created.id}`);
      if (generated) out(`one-time password: ${password}`);
    });

  user
    .command('passwd <username>')
    .description('set a one-time password (changed at next login); prints it unless --password-stdin')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (username: string, opts: { passwordStdin?: boolean }, cmd: Command) => {
      const { password, generated } = await passwordOrGenerated(opts.passwordStdin);
      await withUsers(globals(cmd), async (users) => users.resetPassword((await users.getByName(username)).id, password, CLI_ACTOR));
      out(`password of ${username} reset; it must be changed at next login; sessions revoked`);
      if (generated) out(`one-time password: ${password}`);
    });

  user
    .command('role <username> <role>')
    .description('change a user role (ends their sessions)')
    .action(async (username: string, role: string, _opts: unknown, cmd: Command) => {
      const next = roleArg(role);
      await withUsers(globals(cmd), async (users) => users.update((await users.getByName(username)).id, { role: next }, CLI_ACTOR));
      out(`${username} is now ${next}`);
    });

  for (const [name, status] of [
    ['suspend', 'suspended'],
    ['unsuspend', 'active'],
  ] as const) {
    user
      .command(`${name} <username>`)
      .description(name === 'suspend' ? 'suspend a user (ends their sessions)' : 'reactivate a suspended or locked user')
      .action(async (username: string, _opts: unknown, cmd: Command) => {
        await withUsers(globals(cmd), async (users) => users.update((await users.getByName(username)).id, { status }, CLI_ACTOR));
        out(`${username} is now ${status}`);
      });
  }

  user
    .command('list')
    .description('list users')
    .option('--json', 'one JSON object per line')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withUsers(globals(cmd), async (users) => {
        let cursor: string | undefined;
        do {
          const page = await users.list({ limit: 500, cursor });
          for (const u of page.items) out(opts.json ? JSON.stringify(u) : `${u.username}\t${u.role}\t${u.status}\t${u.id}`);
          cursor = page.next ?? undefined;
        } while (cursor);
      });
    });
}

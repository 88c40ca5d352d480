import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { CONFIG_ENV_KEYS } from '../../src/config/env.js';
import { ConfigError } from '../../src/config/errors.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function yamlFile(text: string, name = 'flotilla.yaml'): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

/** The ConfigError a load throws (fails the test if it does not throw one). */
async function loadError(...args: Parameters<typeof loadConfig>): Promise<ConfigError> {
  try {
    await loadConfig(...args);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('loadConfig did not throw');
}

const SECRET_A = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const SECRET_B = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';

describe('loadConfig: sources and precedence', () => {
  it('applies schema defaults when nothing is given', async () => {
    const config = await loadConfig({ env: {} });
    expect(config.dataDir).toBe('./data');
    expect(config.server).toMatchObject({ host: '0.0.0.0', port: 8768, tls: { names: [] } });
    expect(config.security.passwordPolicy.minLength).toBe(12);
    expect(config.log.level).toBe('info');
    expect(config.database.url).toBeUndefined();
  });

  it('layers YAML < environment < command line, key by key', async () => {
    const file = await yamlFile('server:\n  host: 10.1.1.1\n  port: 9000\nlog:\n  level: warn\ndataDir: /srv/file\n');
    const fromFile = await loadConfig({ configFile: file, env: {} });
    expect(fromFile.server.port).toBe(9000);

    const env = { FLOTILLA_SERVER_PORT: '9100', FLOTILLA_DATA_DIR: '/srv/env' };
    const fromEnv = await loadConfig({ configFile: file, env });
    expect(fromEnv.server).toMatchObject({ host: '10.1.1.1', port: 9100 });
    expect(fromEnv.log.level).toBe('warn');
    expect(fromEnv.dataDir).toBe('/srv/env');

    const fromCli = await loadConfig({ configFile: file, env, overrides: { server: { port: 9200 }, dataDir: '/srv/cli' } });
    expect(fromCli.server).toMatchObject({ host: '10.1.1.1', port: 9200 });
    expect(fromCli.dataDir).toBe('/srv/cli');
  });

  it('reads the file named by FLOTILLA_CONFIG unless one is passed', async () => {
    const a = await yamlFile('server:\n  port: 1111\n', 'a.yaml');
    const b = await yamlFile('server:\n  port: 2222\n', 'b.yaml');
    expect((await loadConfig({ env: { FLOTILLA_CONFIG: a } })).server.port).toBe(1111);
    expect((await loadConfig({ configFile: b, env: { FLOTILLA_CONFIG: a } })).server.port).toBe(2222);
  });

  it('derives variable names for nested keys from the schema and converts by type', async () => {
    const config = await loadConfig({
      env: {
        FLOTILLA_SECURITY_PASSWORD_POLICY_MIN_LENGTH: '20',
        FLOTILLA_SECURITY_PASSWORD_POLICY_REQUIRE_SYMBOL: 'false',
        FLOTILLA_BOOTSTRAP_INITIAL_ADMIN: 'false',
        FLOTILLA_SERVER_TLS_NAMES: 'fleet.example.com, 10.0.0.1',
        FLOTILLA_SERVER_TLS_CERT_FILE: '/etc/cert.pem',
        FLOTILLA_SERVER_HTTP_PORT: '8080',
        FLOTILLA_LOG_LEVEL: 'debug',
        FLOTILLA_SECRETS_AGE_IDENTITY_FILE: '/etc/flotilla/age.key',
      },
    });
    expect(config.security.passwordPolicy).toMatchObject({ minLength: 20, requireSymbol: false, requireUpper: true });
    expect(config.bootstrap.initialAdmin).toBe(false);
    expect(config.server.tls).toEqual({ names: ['fleet.example.com', '10.0.0.1'], certFile: '/etc/cert.pem' });
    expect(config.server.httpPort).toBe(8080);
    expect(config.log.level).toBe('debug');
    expect(config.secrets.ageIdentityFile).toBe('/etc/flotilla/age.key');
  });

  it('lists one variable per schema leaf, with _FILE only for secrets', () => {
    const names = CONFIG_ENV_KEYS.map((k) => k.name);
    expect(names).toContain('FLOTILLA_SERVER_PORT');
    expect(names).toContain('FLOTILLA_SECURITY_PASSWORD_POLICY_MIN_LENGTH');
    expect(names).toContain('FLOTILLA_SECRETS_COMMAND_SIGNING');
    expect(new Set(names).size).toBe(names.length);
    const byName = new Map(CONFIG_ENV_KEYS.map((k) => [k.name, k]));
    expect(byName.get('FLOTILLA_SERVER_PORT')).toMatchObject({ fromFile: false, secret: false, kind: 'integer' });
    expect(byName.get('FLOTILLA_DATABASE_URL')).toMatchObject({ fromFile: true, secret: true, aliases: ['DATABASE_URL'] });
    expect(byName.get('FLOTILLA_SECRETS_PEPPER')).toMatchObject({ fromFile: true, secret: true, kind: 'versions' });
  });

  it('treats an empty variable as unset', async () => {
    const file = await yamlFile('server:\n  port: 9000\n');
    const config = await loadConfig({ configFile: file, env: { FLOTILLA_SERVER_PORT: '', DATABASE_URL: '' } });
    expect(config.server.port).toBe(9000);
    expect(config.database.url).toBeUndefined();
  });
});

describe('loadConfig: secrets from the environment', () => {
  it('reads FLOTILLA_SECRETS_*_FILE and DATABASE_URL_FILE, trimming the trailing newline', async () => {
    const jwtFile = join(dir, 'jwt');
    const dbFile = join(dir, 'db-url');
    await writeFile(jwtFile, `${SECRET_A}\n`);
    await writeFile(dbFile, 'postgres://flotilla:pw@db/flotilla\r\n');
    const config = await loadConfig({
      env: { FLOTILLA_SECRETS_JWT_FILE: jwtFile, DATABASE_URL_FILE: dbFile, REDIS_URL: 'rediss://:pw@redis:6380', DATABASE_MIGRATION_URL: 'postgres://owner:pw@db/flotilla' },
    });
    expect(config.secrets.jwt).toBe(SECRET_A);
    expect(config.database.url).toBe('postgres://flotilla:pw@db/flotilla');
    expect(config.database.migrationUrl).toBe('postgres://owner:pw@db/flotilla');
    expect(config.redis.url).toBe('rediss://:pw@redis:6380');
  });

  it('takes the pepper as one value (version 1) or a JSON object of versions', async () => {
    expect((await loadConfig({ env: { FLOTILLA_SECRETS_PEPPER: SECRET_A } })).secrets.pepper).toEqual({ '1': SECRET_A });
    const json = JSON.stringify({ '1': SECRET_A, '2': SECRET_B });
    expect((await loadConfig({ env: { FLOTILLA_SECRETS_PEPPER: json } })).secrets.pepper).toEqual({ '1': SECRET_A, '2': SECRET_B });
    const pepperFile = join(dir, 'pepper');
    await writeFile(pepperFile, `${json}\n`);
    expect((await loadConfig({ env: { FLOTILLA_SECRETS_PEPPER_FILE: pepperFile } })).secrets.pepper).toEqual({ '1': SECRET_A, '2': SECRET_B });
  });

  it('refuses two sources for one key', async () => {
    const err = await loadError({ env: { DATABASE_URL: 'postgres://a/b', FLOTILLA_DATABASE_URL: 'postgres://c/d' } });
    expect(err.message).toContain('database.url: set only one of');
    expect(err.message).toContain('FLOTILLA_DATABASE_URL');
    expect(err.message).toContain('DATABASE_URL');
    expect(err.message).not.toContain('postgres://');

    const jwtFile = join(dir, 'jwt');
    await writeFile(jwtFile, SECRET_A);
    const both = await loadError({ env: { FLOTILLA_SECRETS_JWT: SECRET_B, FLOTILLA_SECRETS_JWT_FILE: jwtFile } });
    expect(both.message).toContain('secrets.jwt: set only one of FLOTILLA_SECRETS_JWT, FLOTILLA_SECRETS_JWT_FILE');
  });

  it('names an unreadable _FILE by key, variable and path', async () => {
    const missing = join(dir, 'nope');
    const err = await loadError({ env: { FLOTILLA_SECRETS_AUDIT_FILE: missing } });
    expect(err.message).toBe(`secrets.audit: cannot read file ${missing} (ENOENT) (from FLOTILLA_SECRETS_AUDIT_FILE)`);
  });

  it('rejects _FILE for a setting that is not a secret', async () => {
    const err = await loadError({ env: { FLOTILLA_SERVER_PORT_FILE: '/tmp/port' } });
    expect(err.message).toContain('FLOTILLA_SERVER_PORT_FILE: unknown environment variable');
  });
});

describe('loadConfig: errors name the key and its source', () => {
  it('reports a wrong type in the file', async () => {
    const file = await yamlFile('server:\n  port: abc\n');
    const err = await loadError({ configFile: file, env: {} });
    expect(err.message).toBe(`server.port: expected integer, got "abc" (from file ${file})`);
    expect(err.issues).toEqual([{ key: 'server.port', problem: 'expected integer, got "abc"', source: `file ${file}` }]);
  });

  it('reports a wrong type in the environment', async () => {
    const port = await loadError({ env: { FLOTILLA_SERVER_PORT: 'abc' } });
    expect(port.message).toBe('server.port: expected integer, got "abc" (from FLOTILLA_SERVER_PORT)');
    const float = await loadError({ env: { FLOTILLA_SERVER_PORT: '80.5' } });
    expect(float.message).toContain('server.port: expected integer');
    const bool = await loadError({ env: { FLOTILLA_BOOTSTRAP_INITIAL_ADMIN: 'yes' } });
    expect(bool.message).toBe('bootstrap.initialAdmin: expected true or false, got "yes" (from FLOTILLA_BOOTSTRAP_INITIAL_ADMIN)');
    const range = await loadError({ env: { FLOTILLA_SERVER_PORT: '70000' } });
    expect(range.message).toMatch(/^server\.port: .*65535.*, got 70000 \(from FLOTILLA_SERVER_PORT\)$/);
    const level = await loadError({ env: { FLOTILLA_LOG_LEVEL: 'loud' } });
    expect(level.message).toBe('log.level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud" (from FLOTILLA_LOG_LEVEL)');
    const item = await loadError({ env: { FLOTILLA_SERVER_TLS_NAMES: 'a,,b' } });
    expect(item.message).toContain('server.tls.names.1: ');
    expect(item.message).toContain('(from FLOTILLA_SERVER_TLS_NAMES)');
  });

  it('reports an unknown key in the file, at any depth', async () => {
    const file = await yamlFile('server:\n  prot: 8768\n  tls:\n    nmes: [a]\nlogs: {}\n');
    const err = await loadError({ configFile: file, env: {} });
    const lines = err.message.split('\n');
    expect(lines).toContain(`server.prot: unknown key (from file ${file})`);
    expect(lines).toContain(`server.tls.nmes: unknown key (from file ${file})`);
    expect(lines).toContain(`logs: unknown key (from file ${file})`);
  });

  it('rejects __proto__ as an unknown key instead of merging it', async () => {
    const file = await yamlFile('__proto__:\n  polluted: true\n');
    const err = await loadError({ configFile: file, env: {} });
    expect(err.message).toContain('__proto__: unknown key');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('reports an unknown FLOTILLA_* variable by name, allowing the non-config ones', async () => {
    const err = await loadError({ env: { FLOTILLA_SERVER_PROT: '8768', FLOTILLA_REQUIRE_SERVICES: '1', FLOTILLA_ENROLL_TOKEN: 'fle_x', FLOTILLA_AGENT_STATE_DIR: '/tmp', FLOTILLA_DEBUG: '1', OTHER_THING: 'x' } });
    expect(err.message).toBe('FLOTILLA_SERVER_PROT: unknown environment variable: no configuration key has this name');
  });

  it('collects every problem before stopping', async () => {
    const file = await yamlFile('server:\n  port: abc\n  prot: 1\n');
    const err = await loadError({ configFile: file, env: { FLOTILLA_LOG_LEVEL: 'loud' } });
    expect(err.issues.map((i) => i.key).sort()).toEqual(['log.level', 'server.port', 'server.prot']);
  });

  it('rejects a pepper version that is not a number, and an empty pepper', async () => {
    const file = await yamlFile(`secrets:\n  pepper:\n    v1: ${SECRET_A}\n`);
    const err = await loadError({ configFile: file, env: {} });
    expect(err.message).toContain('secrets.pepper.v1: unknown key');
    expect(err.message).not.toContain(SECRET_A);
    const empty = await loadError({ env: { FLOTILLA_SECRETS_PEPPER: '{}' } });
    expect(empty.message).toContain('secrets.pepper: ');
  });

  it('reports a config file that is missing or not a mapping', async () => {
    const missing = join(dir, 'missing.yaml');
    expect((await loadError({ configFile: missing, env: {} })).message).toBe(`cannot read config file ${missing} (ENOENT)`);
    const list = await yamlFile('- a\n- b\n');
    expect((await loadError({ configFile: list, env: {} })).message).toContain('must be a YAML mapping');
  });
});

describe('loadConfig: secret values never appear in errors', () => {
  const leaks = (err: Error, ...values: string[]) => {
    const issues = JSON.stringify((err as ConfigError).issues);
    for (const value of values) {
      expect(err.message).not.toContain(value);
      expect(issues).not.toContain(value);
    }
  };

  it('names a wrongly typed or too short secret in the file without its value', async () => {
    const file = await yamlFile('secrets:\n  jwt: 918273645546372819\n  e2ee: s3cr3t-e2ee-val\n  pepper: pepper-as-a-string-value\ndatabase:\n  url: 424242424242\n');
    const err = await loadError({ configFile: file, env: {} });
    const lines = err.message.split('\n');
    expect(lines).toContain(`secrets.jwt: expected string, got number (from file ${file})`);
    expect(lines).toContain(`secrets.pepper: expected object, got string (from file ${file})`);
    expect(lines).toContain(`database.url: expected string, got number (from file ${file})`);
    expect(lines.find((l) => l.startsWith('secrets.e2ee: '))).toBe(`secrets.e2ee: must not have fewer than 16 characters (from file ${file})`);
    leaks(err, '918273645546372819', 's3cr3t-e2ee-val', 'pepper-as-a-string-value', '424242424242');
  });

  it('names a too short secret from the environment without its value', async () => {
    const err = await loadError({ env: { FLOTILLA_SECRETS_JWT: 'hunter2hunter2', FLOTILLA_SECRETS_PEPPER: '{"1": "tiny-pepper"}' } });
    expect(err.message).toContain('secrets.jwt: ');
    expect(err.message).toContain('(from FLOTILLA_SECRETS_JWT)');
    expect(err.message).toContain('secrets.pepper.1: ');
    leaks(err, 'hunter2hunter2', 'tiny-pepper');
  });

  it('does not quote an unparsable pepper JSON', async () => {
    const err = await loadError({ env: { FLOTILLA_SECRETS_PEPPER: '{"1": "pepper-json-leak' } });
    expect(err.message).toBe('secrets.pepper: expected one value or a JSON object of versions (from FLOTILLA_SECRETS_PEPPER)');
    leaks(err, 'pepper-json-leak');
  });

  it('does not quote a misplaced secret written one level too high', async () => {
    const file = await yamlFile('database: postgres://flotilla:db-password-leak@db/flotilla\n');
    const err = await loadError({ configFile: file, env: {} });
    expect(err.message).toBe(`database: expected object, got string (from file ${file})`);
    leaks(err, 'db-password-leak');
  });

  it('reports a YAML syntax error by position, without quoting the line', async () => {
    const file = await yamlFile('secrets:\n  jwt: yaml-syntax-leak: nested\n');
    const err = await loadError({ configFile: file, env: {} });
    expect(err.message).toMatch(/^invalid YAML \(\w+\) at line 2, column \d+ \(from file /);
    leaks(err, 'yaml-syntax-leak');
  });
});

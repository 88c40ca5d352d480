import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { isClusterMode, resolveSecrets } from '../../src/config/secrets.js';
import { ConfigError } from '../../src/config/errors.js';
import { SECRET_NAMES, type Secrets } from '../../src/config/schema.js';

let dir: string;
let dataDir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-secrets-'));
  dataDir = join(dir, 'data');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const BASE64URL_32 = /^[A-Za-z0-9_-]{43}$/;
const SUPPLIED = 'suppliedsuppliedsuppliedsuppliedsupplied123';
const mode = async (path: string) => (await stat(path)).mode & 0o777;

async function errorOf(promise: Promise<unknown>): Promise<ConfigError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('embedded secrets', () => {
  it('generates every secret on first start into a 0600 file in a 0700 data dir, and reuses it', async () => {
    const config = await loadConfig({ env: {}, overrides: { dataDir } });
    const first = await resolveSecrets(config, { clusterMode: false });
    for (const name of SECRET_NAMES) {
      if (name === 'pepper') {
        expect(Object.keys(first.pepper)).toEqual(['1']);
        expect(first.pepper['1']).toMatch(BASE64URL_32);
      } else {
        expect(first[name]).toMatch(BASE64URL_32);
      }
    }
    expect(new Set(SECRET_NAMES.filter((n) => n !== 'pepper').map((n) => first[n])).size).toBe(SECRET_NAMES.length - 1);

    const file = join(dataDir, 'secrets.json');
    expect(await mode(dataDir)).toBe(0o700);
    expect(await mode(file)).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(first);
    expect(await readdir(dataDir)).toEqual(['secrets.json']); // no temp file left behind

    const before = await readFile(file, 'utf8');
    const second = await resolveSecrets(await loadConfig({ env: {}, overrides: { dataDir } }), { clusterMode: false });
    expect(second).toEqual(first);
    expect(await readFile(file, 'utf8')).toBe(before); // nothing to generate, nothing rewritten
  });

  it('refuses a secrets file that group or others can read or write, saying which chmod to run', async () => {
    const config = await loadConfig({ env: {}, overrides: { dataDir } });
    const created = await resolveSecrets(config, { clusterMode: false });
    const file = join(dataDir, 'secrets.json');
    for (const bad of [0o644, 0o640, 0o602]) {
      await chmod(file, bad);
      const err = await errorOf(resolveSecrets(config, { clusterMode: false }));
      expect(err.message).toContain(`run: chmod 600 ${file}`);
      expect(err.message).toContain(`mode 0${bad.toString(8)}`);
    }
    await chmod(file, 0o600);
    // Fixed, the same file is read again: none of the refusals replaced the secrets.
    await expect(resolveSecrets(config, { clusterMode: false })).resolves.toEqual(created);
  });

  it('lets configured secrets override the stored ones without writing them to the file', async () => {
    const file = join(dataDir, 'secrets.json');
    const generated = await resolveSecrets(await loadConfig({ env: {}, overrides: { dataDir } }), { clusterMode: false });
    const config = await loadConfig({ env: { FLOTILLA_SECRETS_JWT: SUPPLIED, FLOTILLA_SECRETS_PEPPER: `{"2":"${SUPPLIED}"}` }, overrides: { dataDir } });
    const secrets = await resolveSecrets(config, { clusterMode: false });
    expect(secrets.jwt).toBe(SUPPLIED);
    expect(secrets.pepper).toEqual({ '2': SUPPLIED });
    expect(secrets.e2ee).toBe(generated.e2ee);
    expect(await readFile(file, 'utf8')).not.toContain(SUPPLIED);
  });

  it('on a fresh data dir, generates only what the config does not supply', async () => {
    const config = await loadConfig({ env: { FLOTILLA_SECRETS_AUDIT: SUPPLIED }, overrides: { dataDir } });
    const secrets = await resolveSecrets(config, { clusterMode: false });
    expect(secrets.audit).toBe(SUPPLIED);
    const stored = JSON.parse(await readFile(join(dataDir, 'secrets.json'), 'utf8')) as Partial<Secrets>;
    expect(stored.audit).toBeUndefined();
    expect(stored.jwt).toBe(secrets.jwt);
  });

  it('completes a partial file, keeping what is there', async () => {
    await mkdir(dataDir, { mode: 0o700 });
    const file = join(dataDir, 'secrets.json');
    await writeFile(file, JSON.stringify({ jwt: SUPPLIED, pepper: { '1': SUPPLIED, '2': SUPPLIED } }), { mode: 0o600 });
    const secrets = await resolveSecrets(await loadConfig({ env: {}, overrides: { dataDir } }), { clusterMode: false });
    expect(secrets.jwt).toBe(SUPPLIED);
    expect(secrets.pepper).toEqual({ '1': SUPPLIED, '2': SUPPLIED });
    expect(secrets.cluster).toMatch(BASE64URL_32);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(secrets);
    expect(await mode(file)).toBe(0o600);
  });

  it('rejects a damaged file by key, without quoting values', async () => {
    await mkdir(dataDir, { mode: 0o700 });
    const file = join(dataDir, 'secrets.json');
    await writeFile(file, JSON.stringify({ jwt: 'short-leak', e2ee: 42, extra: 'x' }), { mode: 0o600 });
    const err = await errorOf(resolveSecrets(await loadConfig({ env: {}, overrides: { dataDir } }), { clusterMode: false }));
    expect(err.message).toContain(`secrets.extra: unknown key (from file ${file})`);
    expect(err.message).toContain(`secrets.jwt: must not have fewer than 16 characters (from file ${file})`);
    expect(err.message).toContain(`secrets.e2ee: expected string, got number (from file ${file})`);
    expect(err.message).not.toContain('short-leak');
    expect(err.message).not.toContain('42');

    await writeFile(file, '{"jwt": "truncated-leak', { mode: 0o600 });
    const truncated = await errorOf(resolveSecrets(await loadConfig({ env: {}, overrides: { dataDir } }), { clusterMode: false }));
    expect(truncated.message).toBe(`does not hold a JSON object of secrets (from file ${file})`);
  });

  it('refuses to start afresh when only an encrypted store exists and no identity is configured', async () => {
    await mkdir(dataDir, { mode: 0o700 });
    await writeFile(join(dataDir, 'secrets.json.age'), 'age-encryption.org/v1\n', { mode: 0o600 });
    const err = await errorOf(resolveSecrets(await loadConfig({ env: {}, overrides: { dataDir } }), { clusterMode: false }));
    expect(err.message).toContain('FLOTILLA_SECRETS_AGE_IDENTITY_FILE');
    expect(await readdir(dataDir)).toEqual(['secrets.json.age']);
  });
});

describe('cluster secrets', () => {
  it('is cluster mode when database.url or redis.url is set', async () => {
    expect(isClusterMode(await loadConfig({ env: {} }))).toBe(false);
    expect(isClusterMode(await loadConfig({ env: { DATABASE_URL: 'postgres://db/flotilla' } }))).toBe(true);
    expect(isClusterMode(await loadConfig({ env: { REDIS_URL: 'redis://cache:6379' } }))).toBe(true);
  });

  it('names only the missing secrets, generates nothing and leaves the data dir alone', async () => {
    const env = {
      DATABASE_URL: 'postgres://db/flotilla',
      FLOTILLA_SECRETS_JWT: SUPPLIED,
      FLOTILLA_SECRETS_E2EE: SUPPLIED,
      FLOTILLA_SECRETS_DB: SUPPLIED,
      FLOTILLA_SECRETS_AUDIT: SUPPLIED,
    };
    const config = await loadConfig({ env, overrides: { dataDir } });
    const err = await errorOf(resolveSecrets(config, { clusterMode: isClusterMode(config) }));
    expect(err.issues.map((i) => i.key)).toEqual(['secrets.pepper', 'secrets.commandSigning', 'secrets.cluster']);
    expect(err.message).toContain('FLOTILLA_SECRETS_COMMAND_SIGNING');
    for (const supplied of ['jwt', 'e2ee', 'db', 'audit']) {
      expect(err.message).not.toContain(`secrets.${supplied}:`);
      expect(err.message).not.toContain(`FLOTILLA_SECRETS_${supplied.toUpperCase()}`);
    }
    expect(err.message).not.toContain(SUPPLIED);
    await expect(stat(dataDir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('returns the supplied secrets when all are given', async () => {
    const env: Record<string, string> = { REDIS_URL: 'redis://cache:6379', FLOTILLA_SECRETS_PEPPER: SUPPLIED };
    for (const name of ['JWT', 'E2EE', 'DB', 'AUDIT', 'COMMAND_SIGNING', 'CLUSTER']) env[`FLOTILLA_SECRETS_${name}`] = `${SUPPLIED}${name}`;
    const config = await loadConfig({ env, overrides: { dataDir } });
    const secrets = await resolveSecrets(config, { clusterMode: true });
    expect(secrets).toEqual({
      jwt: `${SUPPLIED}JWT`,
      pepper: { '1': SUPPLIED },
      e2ee: `${SUPPLIED}E2EE`,
      db: `${SUPPLIED}DB`,
      audit: `${SUPPLIED}AUDIT`,
      commandSigning: `${SUPPLIED}COMMAND_SIGNING`,
      cluster: `${SUPPLIED}CLUSTER`,
    });
    await expect(stat(dataDir)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findOnPath } from '../harness/services.js';
import { ageRecipientOf, decryptAgeFile, encryptAge } from '../../src/config/age.js';
import { loadConfig } from '../../src/config/load.js';
import { resolveSecrets } from '../../src/config/secrets.js';
import { ConfigError } from '../../src/config/errors.js';

/** Interoperability with the real `age` and `age-keygen` CLIs. */
const ageCli = findOnPath('age');
const keygenCli = findOnPath('age-keygen');
const available = ageCli !== null && keygenCli !== null;

if (!available && process.env.FLOTILLA_REQUIRE_SERVICES === '1') {
  describe('age CLI', () => {
    it('is installed', () => {
      throw new Error('FLOTILLA_REQUIRE_SERVICES=1 but age or age-keygen is not on PATH');
    });
  });
}

const S = (c: string) => c.repeat(43);
const BUNDLE = { jwt: S('j'), pepper: { '1': S('p'), '2': S('q') }, e2ee: S('e'), db: S('d'), audit: S('a'), commandSigning: S('c'), cluster: S('k') };

describe.skipIf(!available)('age secrets with the age CLI', () => {
  let dir: string;
  let identityFile: string;
  let recipient: string;
  const age = (...args: string[]) => execFileSync(ageCli as string, args);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-age-'));
    identityFile = join(dir, 'identity.txt');
    execFileSync(keygenCli as string, ['-o', identityFile], { stdio: 'ignore' });
    recipient = execFileSync(keygenCli as string, ['-y', identityFile], { encoding: 'utf8' }).trim();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function encryptWithCli(plaintext: string, armored = false): Promise<string> {
    const plain = join(dir, 'bundle.json');
    const out = join(dir, armored ? 'bundle.json.asc' : 'bundle.json.age');
    await writeFile(plain, plaintext, { mode: 0o600 });
    age(...(armored ? ['-a'] : []), '-r', recipient, '-o', out, plain);
    await rm(plain);
    return out;
  }

  it('reads the recipient of an age-keygen identity file (comments included)', async () => {
    expect((await readFile(identityFile, 'utf8')).split('\n')[0]).toMatch(/^# created: /);
    expect(await ageRecipientOf(identityFile)).toBe(recipient);
  });

  it('loadConfig fills secrets.* from a file encrypted by `age -r`', async () => {
    const ageFile = await encryptWithCli(JSON.stringify(BUNDLE));
    const config = await loadConfig({ env: { FLOTILLA_SECRETS_AGE_FILE: ageFile, FLOTILLA_SECRETS_AGE_IDENTITY_FILE: identityFile } });
    expect(config.secrets).toMatchObject(BUNDLE);

    const armored = await encryptWithCli(JSON.stringify({ ...BUNDLE, pepper: S('v') }), true);
    const fromArmored = await loadConfig({ env: { FLOTILLA_SECRETS_AGE_FILE: armored, FLOTILLA_SECRETS_AGE_IDENTITY_FILE: identityFile } });
    expect(fromArmored.secrets.pepper).toEqual({ '1': S('v') });
  });

  it('lets FLOTILLA_SECRETS_* and …_FILE win over the age file', async () => {
    const ageFile = await encryptWithCli(JSON.stringify(BUNDLE));
    const jwtFile = join(dir, 'jwt');
    await writeFile(jwtFile, `${S('J')}\n`);
    const config = await loadConfig({
      env: { FLOTILLA_SECRETS_AGE_FILE: ageFile, FLOTILLA_SECRETS_AGE_IDENTITY_FILE: identityFile, FLOTILLA_SECRETS_JWT_FILE: jwtFile, FLOTILLA_SECRETS_CLUSTER: S('K') },
    });
    expect(config.secrets.jwt).toBe(S('J'));
    expect(config.secrets.cluster).toBe(S('K'));
    expect(config.secrets.e2ee).toBe(S('e'));
  });

  it('names the age file, not the key, when the identity does not match', async () => {
    const ageFile = await encryptWithCli(JSON.stringify(BUNDLE));
    const otherIdentity = join(dir, 'other.txt');
    execFileSync(keygenCli as string, ['-o', otherIdentity], { stdio: 'ignore' });
    const err = await loadConfig({ env: { FLOTILLA_SECRETS_AGE_FILE: ageFile, FLOTILLA_SECRETS_AGE_IDENTITY_FILE: otherIdentity } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as ConfigError).message;
    expect(message).toContain(`secrets.ageFile: cannot decrypt age file ${ageFile}`);
    expect(message).toContain('(from FLOTILLA_SECRETS_AGE_FILE)');
    expect(message).not.toContain('AGE-SECRET-KEY');
  });

  it('reports unknown or invalid secrets in the age file by key only', async () => {
    const ageFile = await encryptWithCli(JSON.stringify({ ...BUNDLE, jwt: 'too-short-leak', jwtt: S('x') }));
    const err = await loadConfig({ env: { FLOTILLA_SECRETS_AGE_FILE: ageFile, FLOTILLA_SECRETS_AGE_IDENTITY_FILE: identityFile } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe(`secrets.jwtt: unknown key (from age file ${ageFile})`);

    const short = await encryptWithCli(JSON.stringify({ ...BUNDLE, jwt: 'too-short-leak' }));
    const err2 = await loadConfig({ env: { FLOTILLA_SECRETS_AGE_FILE: short, FLOTILLA_SECRETS_AGE_IDENTITY_FILE: identityFile } }).catch((e: unknown) => e);
    expect((err2 as ConfigError).message).toBe(`secrets.jwt: must not have fewer than 16 characters (from age file ${short})`);
  });

  it('requires an identity when an age file is configured', async () => {
    const err = await loadConfig({ env: { FLOTILLA_SECRETS_AGE_FILE: join(dir, 'x.age') } }).catch((e: unknown) => e);
    expect((err as ConfigError).message).toBe('secrets.ageIdentityFile: required when secrets.ageFile is set (from FLOTILLA_SECRETS_AGE_FILE)');
  });

  it('refuses a malformed identity file without echoing its lines', async () => {
    const bad = join(dir, 'bad.txt');
    await writeFile(bad, '# comment\nAGE-SECRET-KEY-1ok\nnot-a-key-leak\n');
    await expect(ageRecipientOf(bad)).rejects.toThrow(`age identity file ${bad} line 3 is not an age secret key`);
    await expect(ageRecipientOf(bad)).rejects.not.toThrow(/leak/);
  });

  it('encryptAge output decrypts with `age -d -i`, and decryptAgeFile reads it back', async () => {
    const plaintext = JSON.stringify(BUNDLE);
    const file = join(dir, 'ours.age');
    await writeFile(file, await encryptAge(plaintext, recipient));
    expect(age('-d', '-i', identityFile, file).toString('utf8')).toBe(plaintext);
    expect(await decryptAgeFile(file, identityFile)).toBe(plaintext);
    await expect(encryptAge(plaintext, 'age1notarecipient')).rejects.toThrow('invalid age recipient');
  });

  it('embedded mode with an identity keeps secrets only in secrets.json.age, readable by `age -d`', async () => {
    const dataDir = join(dir, 'data');
    const env = { FLOTILLA_SECRETS_AGE_IDENTITY_FILE: identityFile, FLOTILLA_DATA_DIR: dataDir };
    const first = await resolveSecrets(await loadConfig({ env }), { clusterMode: false });
    expect(await readdir(dataDir)).toEqual(['secrets.json.age']);
    const stored = join(dataDir, 'secrets.json.age');
    expect((await stat(stored)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(age('-d', '-i', identityFile, stored).toString('utf8'))).toEqual(first);

    const second = await resolveSecrets(await loadConfig({ env }), { clusterMode: false });
    expect(second).toEqual(first);
  });

  it('embedded mode with an identity refuses to ignore an existing plaintext secrets.json', async () => {
    const dataDir = join(dir, 'data');
    const plain = await resolveSecrets(await loadConfig({ env: { FLOTILLA_DATA_DIR: dataDir } }), { clusterMode: false });
    const env = { FLOTILLA_SECRETS_AGE_IDENTITY_FILE: identityFile, FLOTILLA_DATA_DIR: dataDir };
    const err = await resolveSecrets(await loadConfig({ env }), { clusterMode: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain(`-o ${join(dataDir, 'secrets.json.age')}`);

    // Following the advice with the real CLI migrates the same secrets.
    const plainFile = join(dataDir, 'secrets.json');
    age('-r', recipient, '-o', join(dataDir, 'secrets.json.age'), plainFile);
    await rm(plainFile);
    expect(await resolveSecrets(await loadConfig({ env }), { clusterMode: false })).toEqual(plain);
  });
});

import { randomBytes } from 'node:crypto';
import { mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../lib/atomic-file.js';
import { ConfigSchema, SECRET_NAMES, type Config, type Secrets } from './schema.js';
import { ConfigError, validationIssues, type ConfigIssue } from './errors.js';
import { envVarName } from './env.js';
import { ageRecipientOf, decryptAgeFile, encryptAge } from './age.js';

type SecretName = (typeof SECRET_NAMES)[number];
type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Cluster mode = shared PostgreSQL or Redis: every node must hold the same secrets. */
export function isClusterMode(config: Config): boolean {
  return Boolean(config.database?.url || config.redis?.url);
}

const newSecret = () => randomBytes(32).toString('base64url');

/** The secrets present in the loaded config (file, env, `_FILE`, age file). */
function suppliedSecrets(config: Config): Partial<Secrets> {
  const out: Partial<Secrets> = {};
  const s = config.secrets ?? {};
  for (const name of SECRET_NAMES) {
    const value = s[name];
    if (name === 'pepper') {
      if (isObject(value) && Object.keys(value).length > 0) out.pepper = value as Record<string, string>;
    } else if (typeof value === 'string' && value !== '') {
      out[name] = value;
    }
  }
  return out;
}

function clusterSecrets(supplied: Partial<Secrets>): Secrets {
  const missing = SECRET_NAMES.filter((name) => supplied[name] === undefined);
  if (missing.length > 0) {
    // Generating here would give each node different keys; name what is missing, nothing else.
    throw new ConfigError(
      missing.map((name) => {
        const variable = envVarName(['secrets', name]);
        return {
          key: `secrets.${name}`,
          problem: `required in cluster mode (database.url or redis.url is set): set ${variable} or ${variable}_FILE, or put it in secrets.ageFile`,
        };
      }),
    );
  }
  return supplied as Secrets;
}

/** Parses and checks a stored secrets object; messages name keys, never values. */
function parseStored(text: string, file: string): Partial<Secrets> {
  const source = `file ${file}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined; // JSON.parse messages quote the text
  }
  if (!isObject(parsed)) throw new ConfigError({ key: '', problem: 'does not hold a JSON object of secrets', source });
  const issues: ConfigIssue[] = Object.keys(parsed)
    .filter((key) => !(SECRET_NAMES as readonly string[]).includes(key))
    .map((key) => ({ key: `secrets.${key}`, problem: 'unknown key', source }));
  issues.push(...validationIssues(ConfigSchema.properties.secrets, parsed, () => source, ['secrets']));
  if (issues.length > 0) throw new ConfigError(issues);
  return parsed as Partial<Secrets>;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new ConfigError({ key: '', problem: `cannot inspect ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})` }, { cause: err });
  }
}

/** Reads the plaintext store, refusing one that group or others can read or write. */
async function readPlainStore(path: string): Promise<Partial<Secrets>> {
  const fh = await open(path, 'r');
  try {
    // fstat on the open handle: the file we check is the file we read.
    const st = await fh.stat();
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new ConfigError({
        key: 'dataDir',
        problem: `${path} is readable or writable by group or others (mode ${mode}); run: chmod 600 ${path}`,
      });
    }
    return parseStored(await fh.readFile('utf8'), path);
  } finally {
    await fh.close();
  }
}


interface SecretStore {
  read(): Promise<Partial<Secrets>>;
  write(secrets: Partial<Secrets>): Promise<void>;
}

const serialize = (secrets: Partial<Secrets>): string => {
  const ordered: Json = {};
  for (const name of SECRET_NAMES) if (secrets[name] !== undefined) ordered[name] = secrets[name];
  return `${JSON.stringify(ordered, null, 2)}\n`;
};

/** `<dataDir>/secrets.json`, or `secrets.json.age` when an age identity is configured. */
async function openSecretStore(config: Config): Promise<SecretStore> {
  const plainPath = join(config.dataDir, 'secrets.json');
  const agePath = `${plainPath}.age`;
  const identityFile = config.secrets?.ageIdentityFile;
  const [plainExists, ageExists] = [await exists(plainPath), await exists(agePath)];

  if (identityFile) {
    // Starting afresh would generate new secrets and orphan every pepper-hashed password; make the move explicit.
    if (plainExists) {
      throw new ConfigError({
        key: 'secrets.ageIdentityFile',
        problem: `${plainPath} is stored in plaintext; encrypt it with: age -r "$(age-keygen -y ${identityFile})" -o ${agePath} ${plainPath} && rm ${plainPath}`,
      });
    }
    return {
      read: async () => {
        if (!ageExists) return {};
        try {
          return parseStored(await decryptAgeFile(agePath, identityFile), agePath);
        } catch (err) {
          if (err instanceof ConfigError) throw err;
          throw new ConfigError({ key: 'secrets.ageIdentityFile', problem: (err as Error).message }, { cause: err });
        }
      },
      write: async (secrets) => writeFileAtomic(agePath, await encryptAge(serialize(secrets), await ageRecipientOf(identityFile))),
    };
  }
  if (ageExists && !plainExists) {
    throw new ConfigError({
      key: 'secrets.ageIdentityFile',
      problem: `${agePath} exists but no age identity is configured; set secrets.ageIdentityFile (${envVarName(['secrets', 'ageIdentityFile'])})`,
    });
  }
  return {
    read: async () => (plainExists ? readPlainStore(plainPath) : {}),
    write: async (secrets) => writeFileAtomic(plainPath, serialize(secrets)),
  };
}

/**
 * The secrets this node runs with. Cluster mode: all must be
 * supplied, none is generated. Embedded mode: kept in the data dir, each
 * missing one generated (32 random bytes, base64url) on first start; secrets
 * given in the config override the stored ones (and are not written to the store).
 */
export async function resolveSecrets(config: Config, opts: { clusterMode: boolean }): Promise<Secrets> {
  const supplied = suppliedSecrets(config);
  if (opts.clusterMode) return clusterSecrets(supplied);

  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const store = await openSecretStore(config);
  const stored = await store.read();
  const generated: Partial<Secrets> = {};
  for (const name of SECRET_NAMES as readonly SecretName[]) {
    if (stored[name] !== undefined || supplied[name] !== undefined) continue;
    if (name === 'pepper') generated.pepper = { '1': newSecret() };
    else generated[name] = newSecret();
  }
  if (Object.keys(generated).length > 0) await store.write({ ...stored, ...generated });
  return { ...stored, ...generated, ...supplied } as Secrets;
}

import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { Value } from 'typebox/value';
import { ConfigSchema, SECRET_NAMES, type Config } from './schema.js';
import { ConfigError, validationIssues, type ConfigIssue } from './errors.js';
import { readEnvOverrides } from './env.js';
import { decryptAgeFile } from './age.js';

export interface LoadConfigOptions {
  /** YAML file; defaults to $FLOTILLA_CONFIG. */
  configFile?: string;
  /** Defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** Command-line flags: they beat the file and the environment. */
  overrides?: { dataDir?: string; server?: { host?: string; port?: number } };
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Remembers which source set each path, so an error can say where to fix it. */
class Origins {
  private readonly set_ = new Map<string, string>();
  constructor(
    private readonly file: Json,
    private readonly fileLabel: string | undefined,
  ) {}

  set(path: readonly string[], source: string): void {
    const key = path.join('.');
    // A later source replaces the whole subtree (e.g. FLOTILLA_SECRETS_PEPPER replaces every version).
    for (const existing of [...this.set_.keys()]) if (existing.startsWith(`${key}.`)) this.set_.delete(existing);
    this.set_.set(key, source);
  }

  of(path: readonly string[]): string | undefined {
    for (let i = path.length; i > 0; i--) {
      const source = this.set_.get(path.slice(0, i).join('.'));
      if (source) return source;
    }
    let node: unknown = this.file;
    for (const segment of path) {
      if (!isObject(node) || !Object.hasOwn(node, segment)) return undefined;
      node = node[segment];
    }
    return path.length > 0 ? this.fileLabel : undefined;
  }
}

/** Sets a value, creating objects on the way; a non-object in the way is left for validation to report. */
function setAt(root: Json, path: readonly string[], value: unknown): void {
  let node = root;
  for (const segment of path.slice(0, -1)) {
    const next = node[segment] ?? (node[segment] = {});
    if (!isObject(next)) return;
    node = next;
  }
  node[path[path.length - 1] as string] = value;
}

async function readConfigFile(file: string): Promise<Json> {
  const source = `file ${file}`;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError({ key: '', problem: `cannot read config file ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})` }, { cause: err });
  }
  const doc = parseDocument(text);
  // yaml's own messages quote the offending line, which may hold a secret: keep only code and position.
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => ({ key: '', problem: `invalid YAML (${e.code}) at line ${e.linePos?.[0].line ?? '?'}, column ${e.linePos?.[0].col ?? '?'}`, source })),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS();
  } catch {
    throw new ConfigError({ key: '', problem: 'the YAML cannot be converted (too many aliases?)', source });
  }
  if (data === null || data === undefined) return {};
  if (!isObject(data)) throw new ConfigError({ key: '', problem: 'the config file must be a YAML mapping of settings', source });
  return data;
}

/**
 * Fills `secrets.*` from the age-encrypted file. Precedence: a secret given
 * directly (config file, FLOTILLA_SECRETS_*, …_FILE) wins over the age file,
 * so an operator can replace one secret without re-encrypting the bundle.
 */
async function applyAgeSecrets(merged: Json, origins: Origins): Promise<void> {
  const secrets = merged['secrets'];
  if (!isObject(secrets)) return;
  const ageFile = secrets['ageFile'];
  const identityFile = secrets['ageIdentityFile'];
  if (typeof ageFile !== 'string' || ageFile === '') return;
  if (typeof identityFile !== 'string' || identityFile === '') {
    throw new ConfigError({ key: 'secrets.ageIdentityFile', problem: 'required when secrets.ageFile is set', source: origins.of(['secrets', 'ageFile']) });
  }
  let text: string;
  try {
    text = await decryptAgeFile(ageFile, identityFile);
  } catch (err) {
    throw new ConfigError({ key: 'secrets.ageFile', problem: (err as Error).message, source: origins.of(['secrets', 'ageFile']) }, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined; // the parser's message would quote the plaintext
  }
  const source = `age file ${ageFile}`;
  if (!isObject(parsed)) throw new ConfigError({ key: 'secrets.ageFile', problem: 'does not hold a JSON object of secrets', source });
  const issues: ConfigIssue[] = [];
  for (const [name, value] of Object.entries(parsed)) {
    if (!(SECRET_NAMES as readonly string[]).includes(name)) {
      issues.push({ key: `secrets.${name}`, problem: 'unknown key', source });
      continue;
    }
    if (secrets[name] !== undefined) continue;
    secrets[name] = name === 'pepper' && typeof value === 'string' ? { '1': value } : value;
    origins.set(['secrets', name], source);
  }
  if (issues.length > 0) throw new ConfigError(issues);
}

/**
 * Builds the configuration: YAML file, then FLOTILLA_* environment (and
 * `…_FILE`, DATABASE_URL, REDIS_URL), then command-line overrides, then the
 * age-encrypted secrets, then schema defaults; the result is validated against
 * ConfigSchema. Unknown keys are errors, never dropped. Any problem throws a
 * ConfigError naming each key and its source; secret values never appear.
 */
export async function loadConfig(opts: LoadConfigOptions = {}): Promise<Config> {
  const env = opts.env ?? process.env;
  const configFile = opts.configFile ?? (env['FLOTILLA_CONFIG'] || undefined);
  const fileData = configFile ? await readConfigFile(configFile) : {};
  const origins = new Origins(fileData, configFile ? `file ${configFile}` : undefined);
  const merged = structuredClone(fileData);

  for (const { path, value, source } of await readEnvOverrides(env)) {
    setAt(merged, path, value);
    origins.set(path, source);
  }

  const cli: Array<[readonly string[], unknown]> = [
    [['dataDir'], opts.overrides?.dataDir],
    [['server', 'host'], opts.overrides?.server?.host],
    [['server', 'port'], opts.overrides?.server?.port],
  ];
  for (const [path, value] of cli) {
    if (value === undefined) continue;
    setAt(merged, path, value);
    origins.set(path, 'command line');
  }

  await applyAgeSecrets(merged, origins);

  // Value.Default fills missing keys only; unknown keys stay for validation to reject.
  const config: unknown = Value.Default(ConfigSchema, merged);
  const issues = validationIssues(ConfigSchema, config, (path) => origins.of(path));
  if (issues.length > 0) throw new ConfigError(issues);
  return config as Config;
}

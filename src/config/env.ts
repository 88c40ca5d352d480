import { readFile } from 'node:fs/promises';
import { ConfigSchema } from './schema.js';
import { ConfigError, type ConfigIssue } from './errors.js';

/**
 * Environment overrides, derived from ConfigSchema (docs/api.md): every
 * setting is `FLOTILLA_` + its path in upper snake case, secrets also `…_FILE`.
 * Deriving the names from the schema keeps them in step with it: a new key gets
 * its variable without anyone editing a list.
 */

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** How a variable's text becomes a value. `versions` is a record such as the pepper. */
export type EnvKind = 'string' | 'integer' | 'number' | 'boolean' | 'array' | 'versions';

export interface EnvKey {
  readonly path: readonly string[];
  readonly name: string;
  readonly kind: EnvKind;
  /** Element kind when kind is `array`. */
  readonly items?: EnvKind;
  /** Marked `x-secret` (itself or an ancestor): its value never appears in messages. */
  readonly secret: boolean;
  /** Also settable as `<name>_FILE`: secrets and everything under `secrets.*`. */
  readonly fromFile: boolean;
  /** Conventional names (`DATABASE_URL`), same rules as `name`. */
  readonly aliases: readonly string[];
}

/** FLOTILLA_* variables that are not settings. Read by the CLI and the test harness, not the schema: an environment that sets them is not a typo. */
export const NON_CONFIG_ENV_VARS: readonly string[] = ['FLOTILLA_CONFIG', 'FLOTILLA_REQUIRE_SERVICES', 'FLOTILLA_DEBUG', 'FLOTILLA_AGENT_STATE_DIR', 'FLOTILLA_ENROLL_TOKEN'];

const ALIASES: Record<string, readonly string[]> = {
  'database.url': ['DATABASE_URL'],
  'database.migrationUrl': ['DATABASE_MIGRATION_URL'],
  'redis.url': ['REDIS_URL'],
};

const upperSnake = (segment: string) => segment.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

export function envVarName(path: readonly string[]): string {
  return `FLOTILLA_${path.map(upperSnake).join('_')}`;
}

function kindOf(node: Json): EnvKind {
  switch (node['type']) {
    case 'integer':
      return 'integer';
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'array':
      return 'array';
    case 'object':
      return 'versions';
    default:
      return 'string'; // strings and unions of string literals
  }
}

function collectKeys(node: Json, path: string[], secret: boolean, out: EnvKey[]): void {
  const isSecret = secret || node['x-secret'] === true;
  const props = node['properties'];
  if (node['type'] === 'object' && isObject(props)) {
    for (const [key, child] of Object.entries(props)) if (isObject(child)) collectKeys(child, [...path, key], isSecret, out);
    return;
  }
  const kind = kindOf(node);
  const items = kind === 'array' && isObject(node['items']) ? kindOf(node['items']) : undefined;
  out.push({
    path,
    name: envVarName(path),
    kind,
    ...(items ? { items } : {}),
    secret: isSecret,
    fromFile: isSecret || path[0] === 'secrets',
    aliases: ALIASES[path.join('.')] ?? [],
  });
}

function buildKeys(): readonly EnvKey[] {
  const keys: EnvKey[] = [];
  collectKeys(ConfigSchema as unknown as Json, [], false, keys);
  // Two keys sharing a variable (say `a.bC` and `a.b.c`) would be a schema bug; stop at load.
  const seen = new Set<string>(NON_CONFIG_ENV_VARS);
  for (const key of keys) {
    for (const base of [key.name, ...key.aliases]) {
      for (const name of key.fromFile ? [base, `${base}_FILE`] : [base]) {
        if (seen.has(name)) throw new Error(`config schema: environment variable ${name} maps to two settings`);
        seen.add(name);
      }
    }
  }
  return keys;
}

/** Every setting's variable, in schema order. */
export const CONFIG_ENV_KEYS: readonly EnvKey[] = buildKeys();

export interface EnvOverride {
  readonly path: readonly string[];
  readonly value: unknown;
  /** The variable it came from. */
  readonly source: string;
}

const INTEGER = /^-?[0-9]+$/;
const DECIMAL = /^-?[0-9]+\.[0-9]+$/;

function convertScalar(raw: string, kind: EnvKind): { ok: true; value: unknown } | { ok: false; expected: string } {
  switch (kind) {
    case 'integer': {
      const n = Number(raw);
      return INTEGER.test(raw) && Number.isSafeInteger(n) ? { ok: true, value: n } : { ok: false, expected: 'integer' };
    }
    case 'number':
      return INTEGER.test(raw) || DECIMAL.test(raw) ? { ok: true, value: Number(raw) } : { ok: false, expected: 'number' };
    case 'boolean':
      return raw === 'true' || raw === 'false' ? { ok: true, value: raw === 'true' } : { ok: false, expected: 'true or false' };
    default:
      return { ok: true, value: raw };
  }
}

/** Turns one variable's text into a value by the schema type; pushes an issue on failure. */
function convert(raw: string, key: EnvKey, source: string, issues: ConfigIssue[]): unknown {
  const fail = (path: readonly string[], expected: string, text: string) =>
    issues.push({ key: path.join('.'), problem: key.secret ? `expected ${expected}` : `expected ${expected}, got ${JSON.stringify(text)}`, source });
  if (key.kind === 'array') {
    // The README's configuration section: lists are comma separated.
    return raw.split(',').map((part, i) => {
      const item = part.trim();
      const result = convertScalar(item, key.items ?? 'string');
      if (!result.ok) fail([...key.path, String(i)], result.expected, item);
      return result.ok ? result.value : item;
    });
  }
  if (key.kind === 'versions') {
    // One value is version 1; several are given as a JSON object {"1": "…", "2": "…"}.
    if (!raw.trimStart().startsWith('{')) return { '1': raw };
    try {
      const parsed: unknown = JSON.parse(raw);
      if (isObject(parsed)) return parsed;
    } catch {
      // JSON.parse messages quote the input, which may be a secret: report without it.
    }
    issues.push({ key: key.path.join('.'), problem: 'expected one value or a JSON object of versions', source });
    return undefined;
  }
  const result = convertScalar(raw, key.kind);
  if (!result.ok) fail(key.path, result.expected, raw);
  return result.ok ? result.value : undefined;
}

async function readSecretFile(file: string, key: EnvKey, source: string, issues: ConfigIssue[]): Promise<string | undefined> {
  try {
    // Files from `echo … > f` or Docker/Kubernetes secrets end with a newline that is not part of the value.
    return (await readFile(file, 'utf8')).replace(/[\r\n]+$/, '');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    issues.push({ key: key.path.join('.'), problem: `cannot read file ${file} (${code})`, source });
    return undefined;
  }
}

/**
 * Reads every configuration variable from `env`. An empty variable counts as
 * unset (compose files often pass `FOO=${FOO:-}`). Throws a ConfigError listing
 * unknown FLOTILLA_* variables, conflicting ones and values of the wrong type.
 */
export async function readEnvOverrides(env: Record<string, string | undefined>): Promise<EnvOverride[]> {
  const issues: ConfigIssue[] = [];
  const known = new Set<string>(NON_CONFIG_ENV_VARS);
  const overrides: EnvOverride[] = [];

  for (const key of CONFIG_ENV_KEYS) {
    const bases = [key.name, ...key.aliases];
    for (const base of bases) known.add(base);
    if (key.fromFile) for (const base of bases) known.add(`${base}_FILE`);

    const given = bases
      .flatMap((base) => [
        { name: base, fromFile: false },
        ...(key.fromFile ? [{ name: `${base}_FILE`, fromFile: true }] : []),
      ])
      .filter(({ name }) => env[name] !== undefined && env[name] !== '');
    if (given.length === 0) continue;
    if (given.length > 1) {
      issues.push({ key: key.path.join('.'), problem: `set only one of ${given.map((g) => g.name).join(', ')}` });
      continue;
    }
    const [{ name, fromFile }] = given as [{ name: string; fromFile: boolean }];
    const text = env[name] as string;
    const raw = fromFile ? await readSecretFile(text, key, name, issues) : text;
    if (raw === undefined) continue;
    const value = convert(raw, key, name, issues);
    if (value !== undefined) overrides.push({ path: key.path, value, source: name });
  }

  for (const name of Object.keys(env).sort()) {
    if (name.startsWith('FLOTILLA_') && !known.has(name)) {
      issues.push({ key: name, problem: 'unknown environment variable: no configuration key has this name' });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return overrides;
}

/**
 * Runs the environment a deployment file sets (compose service, systemd unit,
 * Dockerfile ENV) through the real config loader, so a misspelt or invented
 * variable, or a `_FILE` on a setting that has none, is caught here.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_ENV_KEYS, NON_CONFIG_ENV_VARS, type EnvKey } from '../../src/config/env.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';

interface ConfigVariable {
  key: EnvKey;
  fromFile: boolean;
}

/** Every variable the loader reads, from the same schema-derived list it uses. */
function configVariables(): Map<string, ConfigVariable> {
  const out = new Map<string, ConfigVariable>();
  for (const key of CONFIG_ENV_KEYS) {
    for (const base of [key.name, ...key.aliases]) {
      out.set(base, { key, fromFile: false });
      if (key.fromFile) out.set(`${base}_FILE`, { key, fromFile: true });
    }
  }
  return out;
}

/** Variables that look meant for Flotilla's loader: these must be ones it knows. */
export function isConfigLike(name: string): boolean {
  return name.startsWith('FLOTILLA_') || name.endsWith('_FILE') || /^(DATABASE|REDIS)_/.test(name);
}

/** Content shaped like what the setting holds, for a secret file the test must invent. */
function placeholderFor(key: EnvKey): string {
  switch (key.path.join('.')) {
    case 'database.url':
    case 'database.migrationUrl':
      return 'postgres://flotilla_app:placeholder@postgres:5432/flotilla';
    case 'redis.url':
      return 'redis://:placeholder@redis:6379';
    default:
      return randomBytes(32).toString('base64url');
  }
}

function valueAt(config: Config, path: readonly string[]): unknown {
  let node: unknown = config;
  for (const segment of path) node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[segment] : undefined;
  return node;
}

export interface LoadedEnvironment {
  config: Config;
  /** Config-like variables the loader does not know. */
  unknown: string[];
  /** Variables whose value did not arrive at their setting. */
  notApplied: string[];
}

/**
 * Loads `env` with the real loader. A `_FILE` variable's path is looked up
 * with `hostPath` (a file standing in for the container's or unit's), or gets
 * a placeholder file in `scratch`. Variables that are not config-like
 * (NODE_ENV, HEALTHCHECK_CA) are left out. `dataDir` is used unless the
 * environment names its own.
 */
export async function loadEnvironment(
  env: Record<string, string>,
  opts: { dataDir: string; scratch: string; hostPath?: (path: string) => string | undefined },
): Promise<LoadedEnvironment> {
  const known = configVariables();
  const unknown: string[] = [];
  const expected = new Map<string, { path: readonly string[]; value: string; fromFile: boolean }>();
  const loaderEnv: Record<string, string> = {};
  mkdirSync(opts.scratch, { recursive: true });

  for (const [name, value] of Object.entries(env)) {
    if (!isConfigLike(name)) continue;
    if (NON_CONFIG_ENV_VARS.includes(name)) {
      loaderEnv[name] = value;
      continue;
    }
    const variable = known.get(name);
    if (!variable) {
      unknown.push(name);
      continue;
    }
    if (!variable.fromFile) {
      loaderEnv[name] = value;
      expected.set(name, { path: variable.key.path, value, fromFile: false });
      continue;
    }
    let file = opts.hostPath?.(value);
    if (file === undefined) {
      file = join(opts.scratch, name);
      writeFileSync(file, `${placeholderFor(variable.key)}\n`, { mode: 0o600 });
    }
    loaderEnv[name] = file;
    expected.set(name, { path: variable.key.path, value: readFileSync(file, 'utf8').trimEnd(), fromFile: true });
  }

  // A data dir the file sets itself (FLOTILLA_DATA_DIR) is kept, so it is checked like the rest.
  const config = await loadConfig({ env: loaderEnv, overrides: loaderEnv['FLOTILLA_DATA_DIR'] ? {} : { dataDir: opts.dataDir } });
  const notApplied = [...expected].filter(([, { path, value }]) => {
    const got = valueAt(config, path);
    if (Array.isArray(got)) return got.join(',') !== value;
    if (typeof got === 'object' && got !== null) return (got as Record<string, unknown>)['1'] !== value; // one pepper value is version 1
    return String(got) !== value;
  });
  return { config, unknown, notApplied: notApplied.map(([name]) => name) };
}

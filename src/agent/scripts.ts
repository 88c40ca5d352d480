import { createHash } from 'node:crypto';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { RefusalReason } from '../protocol/command-result.js';
import { argsAllowed, type EffectivePolicy } from './policy.js';
import { checkTrustedDirectory, readTrustedFile, UntrustedFileError } from './trusted-file.js';

const MAX_SCRIPT_BYTES = 16 * 1024 * 1024;

export type ScriptCheck = { ok: true; path: string } | { ok: false; reason: RefusalReason; message: string };

/**
 * Finds the script a run_script command names by hash: a listed script with
 * that hash, or a file in an allowed directory whose content has it now.
 * Then the args must pass that script's rule.
 */
export async function findAllowedScript(policy: EffectivePolicy, sha256: string, args: readonly string[], ownerUid: number): Promise<ScriptCheck> {
  const rs = policy.runScript;
  if (!rs) return { ok: false, reason: 'action_not_allowed', message: 'run_script is not allowed by the policy' };
  const listed = rs.scripts.find((s) => s.sha256 === sha256);
  const found = listed ?? (await findInDirectories(rs.directories, sha256, ownerUid));
  if (!found) return { ok: false, reason: 'script_not_allowed', message: 'no script allowed by the policy has this sha256' };
  if (!argsAllowed(found.args, args)) return { ok: false, reason: 'args_not_allowed', message: `the arguments are not allowed for ${found.path}` };
  return { ok: true, path: found.path };
}

/** The last check before exec: the file is still trusted and still has the hash the signed command names. */
export async function verifyScript(path: string, sha256: string, ownerUid: number): Promise<ScriptCheck> {
  let actual: string;
  try {
    actual = await hashScript(path, ownerUid);
  } catch (err) {
    const message = err instanceof UntrustedFileError ? err.message : `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
    return { ok: false, reason: 'script_not_allowed', message };
  }
  if (actual !== sha256) return { ok: false, reason: 'script_hash_mismatch', message: `${path} does not have the sha256 the command names` };
  return { ok: true, path };
}

async function hashScript(path: string, ownerUid: number): Promise<string> {
  const bytes = await readTrustedFile(path, ownerUid, MAX_SCRIPT_BYTES, { executable: true });
  return createHash('sha256').update(bytes).digest('hex');
}

async function findInDirectories(dirs: NonNullable<EffectivePolicy['runScript']>['directories'], sha256: string, ownerUid: number) {
  for (const dir of dirs) {
    let names: string[];
    try {
      await checkTrustedDirectory(dir.path, ownerUid);
      names = await readdir(dir.path);
    } catch {
      continue; // an untrusted or missing directory allows nothing
    }
    for (const name of names.sort()) {
      const path = join(dir.path, name);
      const st = await lstat(path).catch(() => null);
      if (!st?.isFile()) continue;
      if ((await hashScript(path, ownerUid).catch(() => null)) === sha256) return { path, args: dir.args };
    }
  }
  return undefined;
}

import { constants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { dirname } from 'node:path';

/** Why a file the agent relies on (its policy, a script) cannot be trusted. */
export class UntrustedFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UntrustedFileError';
  }
}

/**
 * Only the host's administrator may be able to change what the agent is
 * allowed to do or run: a file, and the directory holding it, must be owned
 * by `ownerUid` (root) with no group or other write bit, and neither may be
 * a symlink (which would hand the decision to whoever owns the link target's
 * directory).
 */
export function untrustedReason(what: string, path: string, st: Stats, ownerUid: number): string | null {
  if (st.isSymbolicLink()) return `${what} ${path} is a symlink`;
  if (st.uid !== ownerUid) return `${what} ${path} is owned by uid ${st.uid}, not ${ownerUid}`;
  if ((st.mode & 0o022) !== 0) return `${what} ${path} is writable by ${(st.mode & 0o002) !== 0 ? 'anyone' : 'its group'} (mode ${(st.mode & 0o777).toString(8)})`;
  return null;
}

export async function checkTrustedDirectory(dir: string, ownerUid: number): Promise<void> {
  const st = await lstat(dir);
  const reason = st.isDirectory() || st.isSymbolicLink() ? untrustedReason('directory', dir, st, ownerUid) : `${dir} is not a directory`;
  if (reason) throw new UntrustedFileError(reason);
}

/**
 * Reads a trusted file. It is opened without following a symlink and checked
 * through the open descriptor, so what is checked is what is read.
 */
export async function readTrustedFile(path: string, ownerUid: number, maxBytes: number, opts: { executable?: boolean } = {}): Promise<Buffer> {
  await checkTrustedDirectory(dirname(path), ownerUid);
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new UntrustedFileError(`${path} is a symlink`);
    throw err;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new UntrustedFileError(`${path} is not a regular file`);
    const reason = untrustedReason('file', path, st, ownerUid);
    if (reason) throw new UntrustedFileError(reason);
    if (opts.executable && (st.mode & 0o100) === 0) throw new UntrustedFileError(`${path} is not executable by its owner`);
    if (st.size > maxBytes) throw new UntrustedFileError(`${path} is larger than ${maxBytes} bytes`);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

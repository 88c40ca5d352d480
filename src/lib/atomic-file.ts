import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Replaces `file` with `content` so that a crash or power loss leaves the old
 * file or the new one, never a torn one: a temporary file beside it, born
 * with its final mode ('wx' + mode, never briefly readable by others), synced,
 * renamed over the target, then the directory synced so the rename itself
 * survives.
 */
export async function writeFileAtomic(file: string, content: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(tmp, 'wx', mode);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDirectory(dirname(file));
}

/** Best effort: not every file system lets a directory be opened and synced. */
async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    /* the rename stands; only its durability across power loss is unproven here */
  } finally {
    await handle?.close();
  }
}

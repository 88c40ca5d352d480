import { chmod, mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../lib/atomic-file.js';

/** Creates the agent's state directory owner-only, tightening an existing one. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

/** Owner-only (0600) files, replaced atomically and durably. */
export const writePrivateFile = (file: string, content: string | Uint8Array): Promise<void> => writeFileAtomic(file, content, 0o600);

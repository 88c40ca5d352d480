import { randomInt } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { identityError } from '../identity/errors.js';
import { DomainError } from '../lib/errors.js';
import type { Services } from './services.js';

export const INITIAL_ADMIN = 'admin';
export const initialPasswordFile = (dataDir: string) => join(dataDir, 'initial-admin-password');

const CLASSES = ['ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz', '23456789', '!#%+-=?@^_~'];

/** A random password that meets any sane policy: 24 characters, every class present. */
export function generatePassword(length = 24): string {
  const all = CLASSES.join('');
  const chars = CLASSES.map((set) => set[randomInt(set.length)] as string);
  while (chars.length < length) chars.push(all[randomInt(all.length)] as string);
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j] as string, chars[i] as string];
  }
  return chars.join('');
}

/**
 * On an empty database, creates `admin` with a one-time password, printed once
 * and kept in a 0600 file until it is changed. Returns the password, or null
 * when users already exist (or another node won the race).
 */
export async function ensureInitialAdmin(services: Services, print: (line: string) => void): Promise<string | null> {
  const { identity, config } = services;
  if (!config.bootstrap.initialAdmin || (await identity.users.count()) > 0) return null;
  const password = generatePassword();
  try {
    const admin = await identity.users.create({ username: INITIAL_ADMIN, password, role: 'admin', mustChangePassword: true }, { id: null, ip: null });
    await writeFile(initialPasswordFile(config.dataDir), `${password}\n`, { mode: 0o600 });
    print(`initial admin password: ${password}`);
    watchInitialPassword(services, admin.id);
    return password;
  } catch (err) {
    if (err instanceof DomainError && err.code === identityError('username_taken').code) return null;
    throw err;
  }
}

/** The one-time password file goes away as soon as the admin sets a real password. */
export function watchInitialPassword(services: Services, adminId: string): void {
  services.identity.events.subscribe((event) => {
    if ((event.type === 'password_changed' || event.type === 'password_reset') && event.userId === adminId) {
      void rm(initialPasswordFile(services.config.dataDir), { force: true });
    }
  });
}

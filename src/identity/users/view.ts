import type { UserRow } from './repo.js';

/** What leaves the server about a user: never the hash, salt or pepper version. */
export interface UserView {
  id: string;
  username: string;
  role: string;
  status: string;
  passwordChangeRequired: boolean;
  /** Set while status is 'locked': when password logins open again. */
  lockedUntil?: number;
  createdAt: number;
  updatedAt: number;
}

export function toUserView(row: UserRow, lockedUntil?: number): UserView {
  return {
    id: row.id,
    username: row.username,
    role: row.role,
    status: row.status,
    passwordChangeRequired: row.mustChangePassword === 1,
    ...(row.status === 'locked' && lockedUntil !== undefined ? { lockedUntil } : {}),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

import type { UserRow } from './repo.js';

/** What leaves the server about a user: never the hash, salt or pepper version. */
export interface UserView {
  id: string;
  username: string;
  role: string;
  status: string;
  passwordChangeRequired: boolean;
  createdAt: number;
  updatedAt: number;
}

export function toUserView(row: UserRow): UserView {
  return {
    id: row.id,
    username: row.username,
    role: row.role,
    status: row.status,
    passwordChangeRequired: row.mustChangePassword === 1,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

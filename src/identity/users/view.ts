import { Type, type Static } from 'typebox';
import { isRole, isUserStatus, RoleSchema, UserStatusSchema } from '../roles.js';
import type { UserRow } from './repo.js';

/** What leaves the server about a user: never the hash, salt or pepper version. */
export const UserViewSchema = Type.Object(
  {
    id: Type.String(),
    username: Type.String(),
    role: RoleSchema,
    status: UserStatusSchema,
    passwordChangeRequired: Type.Boolean(),
    /** Set while status is 'locked': when password logins open again. */
    lockedUntil: Type.Optional(Type.Integer()),
    createdAt: Type.Integer(),
    updatedAt: Type.Integer(),
  },
  { additionalProperties: false },
);
export type UserView = Static<typeof UserViewSchema>;

export function toUserView(row: UserRow, lockedUntil?: number): UserView {
  // Rows are written only with checked values; anything else is corruption, not a user to show.
  if (!isRole(row.role) || !isUserStatus(row.status)) throw new Error(`user ${row.id} has an unknown role or status`);
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

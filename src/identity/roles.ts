import { Type, type Static } from 'typebox';
import { ROLES, type Role } from '../protocol/route-policy.js';

// Roles are part of the route policy, which every layer reads; identity re-exports them for its callers.
export { ROLES, RoleSchema, roleAllows, type Role } from '../protocol/route-policy.js';

export const USER_STATUSES = ['active', 'locked', 'suspended'] as const;
export const UserStatusSchema = Type.Enum(USER_STATUSES);
export type UserStatus = Static<typeof UserStatusSchema>;

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function isUserStatus(value: unknown): value is UserStatus {
  return typeof value === 'string' && (USER_STATUSES as readonly string[]).includes(value);
}

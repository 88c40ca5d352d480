import { Type, type Static } from 'typebox';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export const RoleSchema = Type.Enum(ROLES);
export type Role = Static<typeof RoleSchema>;

export const USER_STATUSES = ['active', 'locked', 'suspended'] as const;
export const UserStatusSchema = Type.Enum(USER_STATUSES);
export type UserStatus = Static<typeof UserStatusSchema>;

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

/** Whether `role` is at least `required` (admin > operator > viewer). */
export function roleAllows(role: Role, required: Role): boolean {
  return RANK[role] >= RANK[required];
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function isUserStatus(value: unknown): value is UserStatus {
  return typeof value === 'string' && (USER_STATUSES as readonly string[]).includes(value);
}

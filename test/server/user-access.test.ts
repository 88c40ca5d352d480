import { describe, expect, it } from 'vitest';
import type { Principal } from '../../src/identity/sessions/service.js';
import { SCOPES, type UserPolicy } from '../../src/protocol/route-policy.js';
import { principalRefusal } from '../../src/server/user-access.js';

/** A session's principal: every scope, a second factor, no pending password change. */
const session: Principal = {
  userId: 'u1',
  sessionId: 's1',
  jti: 'j1',
  role: 'admin',
  amr: ['pwd', 'mfa'],
  passwordChangeRequired: false,
  accessExpiresAt: 0,
  decoy: false,
  via: 'bearer',
  scopes: SCOPES,
};
const readFleet: UserPolicy = { auth: 'user', role: 'viewer', scope: 'fleet:read' };
const manageUsers: UserPolicy = { auth: 'user', role: 'admin', scope: 'users:admin', resource: 'user' };

describe('the checks of a user route on its principal', () => {
  it('lets a session through on every scope its role reaches', () => {
    for (const scope of SCOPES) expect(principalRefusal({ ...manageUsers, scope }, session, 'POST'), scope).toBeNull();
  });

  it('refuses a principal whose scopes do not include the route\'s, whatever its role', () => {
    const readOnly: Principal = { ...session, scopes: ['fleet:read'] };
    expect(principalRefusal(readFleet, readOnly, 'GET')).toBeNull();
    expect(principalRefusal(manageUsers, readOnly, 'POST')).toBe('insufficient_scope');
    expect(principalRefusal(manageUsers, readOnly, 'GET')).toBe('insufficient_scope');
    expect(principalRefusal(manageUsers, { ...session, scopes: [] }, 'GET')).toBe('insufficient_scope');
  });

  it('keeps the role, password-change, second-factor and decoy gates', () => {
    expect(principalRefusal(manageUsers, { ...session, role: 'operator' }, 'GET')).toBe('forbidden');
    expect(principalRefusal(readFleet, { ...session, passwordChangeRequired: true }, 'GET')).toBe('password_change_required');
    expect(principalRefusal({ ...readFleet, allowDuringPasswordChange: true }, { ...session, passwordChangeRequired: true }, 'GET')).toBeNull();
    expect(principalRefusal(readFleet, { ...session, amr: ['pwd'] }, 'GET', { requireMfaForAdmins: true })).toBe('mfa_enrollment_required');
    expect(principalRefusal({ ...readFleet, allowDuringMfaEnrollment: true }, { ...session, amr: ['pwd'] }, 'GET', { requireMfaForAdmins: true })).toBeNull();
    expect(principalRefusal(readFleet, { ...session, decoy: true }, 'GET')).toBeNull();
    expect(principalRefusal(readFleet, { ...session, decoy: true }, 'POST')).toBe('forbidden');
    expect(principalRefusal({ ...readFleet, decoySafe: true }, { ...session, decoy: true }, 'POST')).toBeNull();
  });
});

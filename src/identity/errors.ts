import { errorFactory, type ErrorTable } from '../lib/errors.js';

export const identityErrors = {
  invalid_credentials: { status: 401, message: 'invalid username or password' },
  unauthorized: { status: 401, message: 'authentication required' },
  session_expired: { status: 401, message: 'your session has ended; log in again' },
  invalid_refresh_token: { status: 401, message: 'the refresh token is invalid or has expired; log in again' },
  csrf_failed: { status: 403, message: 'missing or wrong X-CSRF-Token header' },
  forbidden: { status: 403, message: 'your role does not allow this' },
  insufficient_scope: { status: 403, message: 'this credential does not grant the scope this route needs' },
  reauthentication_required: { status: 403, message: 'confirm it is you first: POST /api/me/reauth with your password or a second factor' },
  reauthentication_failed: { status: 403, message: 'that password or code is wrong' },
  password_change_required: { status: 403, message: 'change your password first (POST /api/me/password)' },
  weak_password: { status: 400, message: 'the password does not meet the policy' },
  wrong_password: { status: 400, message: 'the current password is wrong' },
  invalid_username: { status: 400, message: 'usernames are 3 to 64 characters of letters, digits, _ . and -' },
  username_reserved: { status: 400, message: 'that username is reserved' },
  username_taken: { status: 409, message: 'that username is already taken' },
  user_not_found: { status: 404, message: 'no such user' },
  session_not_found: { status: 404, message: 'no such session' },
  last_admin: { status: 409, message: 'this would leave no active admin' },
  self_change: { status: 409, message: 'you cannot change your own role, status or account here' },
  invalid_mfa_ticket: { status: 401, message: 'the sign-in ticket is invalid or has expired; log in again' },
  invalid_mfa_code: { status: 401, message: 'the code is wrong, already used or expired' },
  mfa_enrollment_required: { status: 403, message: 'enroll a second factor first (POST /api/me/mfa/totp/setup or /api/me/passkeys/register/options)' },
  totp_already_enrolled: { status: 409, message: 'an authenticator app is already set up; remove it first' },
  totp_not_pending: { status: 409, message: 'start with POST /api/me/mfa/totp/setup' },
  totp_not_enrolled: { status: 409, message: 'set up an authenticator app first' },
  passkey_not_found: { status: 404, message: 'no such passkey' },
  passkey_failed: { status: 401, message: 'the passkey could not be verified' },
  passkey_exists: { status: 409, message: 'this passkey is already registered' },
} as const satisfies ErrorTable;

export type IdentityErrorCode = keyof typeof identityErrors;
export const identityError = errorFactory(identityErrors);

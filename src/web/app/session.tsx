import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { api, ApiError, csrfToken, forgetSession, get, mfaEnrollmentRequired, refreshSession, rememberCsrfToken, sessionEnded, tokensRenewed } from '../api/client.js';
import type { DashboardSettings, LoginAnswer, LoginSuccess, PasswordChanged, Role, User } from '../api/types.js';
import { useIdleTimeout } from '../lib/idle.js';
import { authenticateWithPasskey } from '../lib/webauthn.js';

/** The access token lives 30 minutes; renew it a little before that. */
const DEFAULT_ACCESS_SECONDS = 1800;
const RENEW_MARGIN_SECONDS = 120;
const DEFAULT_SETTINGS: DashboardSettings = { serverPin: null, sessionTimeoutSeconds: 3600 };

export type SessionState =
  | { kind: 'loading' }
  | { kind: 'anonymous'; notice: string | null }
  /** mfaSetupRequired: an admin whose session has no second factor while the server requires one. */
  | { kind: 'signed-in'; user: User; mfaSetupRequired: boolean };

export type LoginOutcome = { kind: 'signed-in' } | { kind: 'mfa'; ticket: string; methods: string[] };

interface SessionApi {
  state: SessionState;
  settings: DashboardSettings;
  login(username: string, password: string): Promise<LoginOutcome>;
  completeMfa(ticket: string, code: string): Promise<void>;
  /** Sign in with a passkey: passwordless, or as the second step after the password (`ticket`). */
  passkeyLogin(ticket?: string): Promise<void>;
  changePassword(currentPassword: string, newPassword: string): Promise<void>;
  /** The session gained a second factor; the server reissued its tokens. */
  secondFactorAdded(renewed: { csrfToken?: string; expiresIn?: number }): void;
  /** Leave the forced set-up page (after the backup codes were shown). */
  finishMfaSetup(): void;
  logout(notice?: string): Promise<void>;
}

const SessionContext = createContext<SessionApi | null>(null);

export function useSession(): SessionApi {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside SessionProvider');
  return session;
}

/** The signed-in user; only for pages rendered behind the login. */
export function useUser(): User {
  const { state } = useSession();
  if (state.kind !== 'signed-in') throw new Error('useUser without a signed-in user');
  return state.user;
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };
export const roleAtLeast = (role: Role, needed: Role) => RANK[role] >= RANK[needed];

async function endServerSession(): Promise<void> {
  try {
    await api('POST', '/api/auth/logout');
  } catch (err) {
    // An expired access token cannot log out; renew it once so the session is really revoked.
    if (err instanceof ApiError && err.status === 401 && (await refreshSession())) await api('POST', '/api/auth/logout').catch(() => undefined);
  }
}

/**
 * Who is signed in, and the session's upkeep: renew the access token before it
 * expires, and sign out after the server's idle timeout without activity.
 */
export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>({ kind: 'loading' });
  const [settings, setSettings] = useState<DashboardSettings>(DEFAULT_SETTINGS);
  const [accessSeconds, setAccessSeconds] = useState(DEFAULT_ACCESS_SECONDS);
  const [renewals, setRenewals] = useState(0);
  const stateRef = useRef(state);
  useEffect(() => {
    stateRef.current = state;
  }, [state]);

  const signedIn = useCallback((user: User, csrf?: string, expiresIn?: number) => {
    rememberCsrfToken(csrf);
    setAccessSeconds(expiresIn ?? DEFAULT_ACCESS_SECONDS);
    setRenewals((n) => n + 1);
    setState({ kind: 'signed-in', user, mfaSetupRequired: false });
  }, []);

  const signedOut = useCallback((notice: string | null) => {
    forgetSession();
    setState({ kind: 'anonymous', notice });
  }, []);

  // Who am I? A 401 here is silently retried after a refresh by the client.
  useEffect(() => {
    // No CSRF cookie means no session cookies either: nothing to ask (and no 401 for the scanner counters).
    if (csrfToken() === null) {
      signedOut(null);
      return;
    }
    const controller = new AbortController();
    get<{ user: User }>('/api/me', { signal: controller.signal })
      .then(({ user }) => signedIn(user))
      .catch((err: unknown) => {
        if (controller.signal.aborted) return;
        const notice = err instanceof ApiError && err.status === 401 ? null : 'The server could not be reached. Reload the page to try again.';
        signedOut(notice);
      });
    return () => controller.abort();
  }, [signedIn, signedOut]);

  useEffect(
    () =>
      sessionEnded.on(() => {
        if (stateRef.current.kind === 'signed-in') signedOut('Your session has ended. Sign in again.');
      }),
    [signedOut],
  );

  useEffect(
    () =>
      mfaEnrollmentRequired.on(() => {
        setState((s) => (s.kind === 'signed-in' && !s.mfaSetupRequired ? { ...s, mfaSetupRequired: true } : s));
      }),
    [],
  );

  useEffect(
    () =>
      tokensRenewed.on(({ expiresIn }) => {
        setAccessSeconds(expiresIn);
        setRenewals((n) => n + 1);
      }),
    [],
  );

  const isSignedIn = state.kind === 'signed-in';

  // Server settings (idle timeout, enrollment pin) once signed in.
  useEffect(() => {
    if (!isSignedIn) return;
    const controller = new AbortController();
    get<DashboardSettings>('/api/dashboard/settings', { signal: controller.signal })
      .then(setSettings)
      .catch(() => setSettings(DEFAULT_SETTINGS));
    return () => controller.abort();
  }, [isSignedIn]);

  // Renew the access token shortly before it expires.
  useEffect(() => {
    if (!isSignedIn) return;
    const delayMs = Math.max(10, accessSeconds - RENEW_MARGIN_SECONDS) * 1000;
    const timer = setTimeout(() => {
      void refreshSession().then((ok) => {
        if (!ok) signedOut('Your session has ended. Sign in again.');
      });
    }, delayMs);
    return () => clearTimeout(timer);
  }, [isSignedIn, accessSeconds, renewals, signedOut]);

  const logout = useCallback(
    async (notice?: string) => {
      await endServerSession();
      signedOut(notice ?? 'You are signed out.');
    },
    [signedOut],
  );

  const idleMinutes = Math.round(settings.sessionTimeoutSeconds / 60);
  useIdleTimeout(isSignedIn, settings.sessionTimeoutSeconds * 1000, () => {
    void logout(`You were signed out after ${idleMinutes} minutes without activity.`);
  });

  const value = useMemo<SessionApi>(
    () => ({
      state,
      settings,
      async login(username, password) {
        const answer = await api<LoginAnswer>('POST', '/api/auth/login', { body: { username, password } });
        if ('mfaRequired' in answer && answer.mfaRequired) return { kind: 'mfa', ticket: answer.mfaTicket, methods: answer.methods };
        const success = answer as LoginSuccess;
        signedIn({ ...success.user, passwordChangeRequired: success.passwordChangeRequired }, success.csrfToken);
        return { kind: 'signed-in' };
      },
      async completeMfa(ticket, code) {
        const success = await api<LoginSuccess>('POST', '/api/auth/login/mfa', { body: { mfaTicket: ticket, code } });
        signedIn({ ...success.user, passwordChangeRequired: success.passwordChangeRequired }, success.csrfToken);
      },
      async passkeyLogin(ticket) {
        const success = await authenticateWithPasskey<LoginSuccess>(ticket);
        signedIn({ ...success.user, passwordChangeRequired: success.passwordChangeRequired }, success.csrfToken);
      },
      async changePassword(currentPassword, newPassword) {
        const changed = await api<PasswordChanged>('POST', '/api/me/password', { body: { currentPassword, newPassword } });
        signedIn(changed.user, changed.csrfToken, changed.expiresIn);
      },
      secondFactorAdded(renewed) {
        rememberCsrfToken(renewed.csrfToken);
        if (renewed.expiresIn) setAccessSeconds(renewed.expiresIn);
        setRenewals((n) => n + 1);
      },
      finishMfaSetup() {
        setState((s) => (s.kind === 'signed-in' ? { ...s, mfaSetupRequired: false } : s));
      },
      logout,
    }),
    [state, settings, signedIn, logout],
  );

  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

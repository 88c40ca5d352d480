/**
 * The dashboard's one way to the API: same-origin fetch with the session
 * cookies, the CSRF header on every change, one silent refresh on a 401, and
 * one step-up prompt and retry when a change needs the user to prove it is them.
 */

export const CSRF_COOKIE = 'flotilla_csrf';
const CSRF_HEADER = 'X-CSRF-Token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Listener<T> = (value: T) => void;

function emitter<T>() {
  const listeners = new Set<Listener<T>>();
  return {
    on(listener: Listener<T>): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    emit(value: T): void {
      for (const listener of [...listeners]) listener(value);
    },
  };
}

/** Fired when the session cannot be renewed: the app returns to the login page. */
export const sessionEnded = emitter<{ reason: 'expired' }>();
/** Fired when the API refuses an admin session without a second factor (security.requireMfaForAdmins). */
export const mfaEnrollmentRequired = emitter<void>();
/** Fired after a successful refresh, with the new access token's life in seconds. */
export const tokensRenewed = emitter<{ expiresIn: number }>();

let csrfFromAnswer: string | null = null;

function readCookie(name: string): string | null {
  for (const part of document.cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return null;
}

/** The cookie is the truth (another tab may have renewed it); the last answer's token is the fallback. */
export function csrfToken(): string | null {
  return readCookie(CSRF_COOKIE) ?? csrfFromAnswer;
}

export function rememberCsrfToken(token: string | undefined | null): void {
  if (token) csrfFromAnswer = token;
}

export function forgetSession(): void {
  csrfFromAnswer = null;
}

function messageFor(status: number): string {
  if (status === 0) return 'cannot reach the server; check your connection';
  if (status === 404) return 'not found';
  if (status === 429) return 'too many requests; wait a moment and try again';
  if (status >= 500) return 'the server had a problem; try again';
  return `the request failed (${status})`;
}

async function errorOf(res: Response): Promise<ApiError> {
  const retry = Number(res.headers.get('retry-after'));
  const retryAfter = Number.isFinite(retry) && retry > 0 ? retry : null;
  try {
    const body = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
    const code = typeof body.error?.code === 'string' ? body.error.code : 'http_error';
    const message = typeof body.error?.message === 'string' ? body.error.message : messageFor(res.status);
    return new ApiError(res.status, code, message, retryAfter);
  } catch {
    return new ApiError(res.status, 'http_error', messageFor(res.status), retryAfter);
  }
}

let refreshing: Promise<boolean> | null = null;

/** Renews the access token with the refresh cookie; concurrent callers share one request. */
export function refreshSession(): Promise<boolean> {
  // The CSRF cookie lives exactly as long as the refresh cookie: without it there is nothing to renew.
  if (csrfToken() === null) return Promise.resolve(false);
  refreshing ??= (async () => {
    try {
      // Read at send time: another tab may have renewed the session (and its cookie) meanwhile.
      const csrf = csrfToken() ?? '';
      const res = await fetch('/api/auth/refresh', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { accept: 'application/json', 'content-type': 'application/json', [CSRF_HEADER]: csrf },
        body: '{}',
      });
      if (!res.ok) return false;
      const body = (await res.json()) as { csrfToken?: string; expiresIn?: number };
      rememberCsrfToken(body.csrfToken);
      tokensRenewed.emit({ expiresIn: typeof body.expiresIn === 'number' ? body.expiresIn : 1800 });
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** Shows the step-up prompt; resolves true once the user re-authenticated, false if they gave up. */
type ReauthPrompt = () => Promise<boolean>;
let reauthPrompt: ReauthPrompt | null = null;
let reauthenticating: Promise<boolean> | null = null;

/** The page registers its prompt here (components/ReauthPrompt.tsx); null when it goes away. */
export function setReauthPrompt(prompt: ReauthPrompt | null): void {
  reauthPrompt = prompt;
}

/** Concurrent changes that all need a step-up share one prompt. */
function reauthenticate(): Promise<boolean> {
  if (!reauthPrompt) return Promise.resolve(false);
  reauthenticating ??= reauthPrompt().finally(() => {
    reauthenticating = null;
  });
  return reauthenticating;
}

async function needsReauth(res: Response): Promise<boolean> {
  if (res.status !== 403) return false;
  return (await errorOf(res.clone())).code === 'reauthentication_required';
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined | null>;
  signal?: AbortSignal;
}

function urlOf(path: string, query: RequestOptions['query']): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function send(method: string, path: string, opts: RequestOptions): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const csrf = csrfToken();
  if (!SAFE_METHODS.has(method) && csrf) headers[CSRF_HEADER] = csrf;
  try {
    return await fetch(urlOf(path, opts.query), {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: opts.signal,
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', messageFor(0));
  }
}

/**
 * One API call. A 401 outside /api/auth/ triggers one refresh and one retry;
 * if the refresh fails too, the session is over and the app says so. A 403
 * `reauthentication_required` asks the user to confirm it is them, then
 * retries once.
 */
export async function api<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  let res = await send(method, path, opts);
  if (res.status === 401 && !path.startsWith('/api/auth/')) {
    if (await refreshSession()) res = await send(method, path, opts);
    if (res.status === 401) {
      sessionEnded.emit({ reason: 'expired' });
      throw await errorOf(res);
    }
  }
  if ((await needsReauth(res)) && (await reauthenticate())) res = await send(method, path, opts);
  if (!res.ok) {
    const error = await errorOf(res);
    if (error.code === 'mfa_enrollment_required') mfaEnrollmentRequired.emit();
    throw error;
  }
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export const get = <T>(path: string, opts?: Omit<RequestOptions, 'body'>) => api<T>('GET', path, opts);

/** Why an error happened, in words for the page. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 403 && err.code === 'forbidden') return 'Your role does not allow this.';
    if (err.code === 'reauthentication_required') return 'Confirm it is you to make this change.';
    if (err.status === 404 && err.code === 'not_found') return 'This part of the API is not available on this server yet.';
    return err.message.charAt(0).toUpperCase() + err.message.slice(1);
  }
  return 'Something went wrong. Try again.';
}

/** KV keys and values shared by real and decoy sessions. */
export const sessionKey = (sid: string) => `sess:${sid}`;
export const jtiKey = (jti: string) => `jti:${jti}`;
/** The jti of the session's current access token: only the newest token of a session is accepted. */
export const currentJtiKey = (sid: string) => `sess-jti:${sid}`;
export const REVOKED = 'revoked';
/**
 * Activity is written back at most this often per session, and the cached
 * state lives no longer, so a revocation made by another process straight in
 * the database (the CLI on an embedded server) takes effect within a minute.
 */
export const TOUCH_EVERY_MS = 60_000;
/** Prefix of refresh tokens (`flr_<id>_<secret>`). */
export const REFRESH_PREFIX = 'flr';

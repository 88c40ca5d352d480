/**
 * Row shapes of every table, camelCase (the CamelCasePlugin maps them to the
 * snake_case columns of the migrations). Times are integer milliseconds UTC.
 * Booleans are stored as 0/1 integers so both dialects read them the same.
 */
export interface UsersTable {
  id: string;
  username: string;
  role: string;
  status: string;
  /** argon2id PHC string, or a legacy hash until the next successful login. */
  passwordHash: string;
  /** 'argon2id' | 'sha256' | 'bcrypt' */
  passwordAlgo: string;
  /** Salt stored beside a legacy sha256 hash; null otherwise. */
  passwordSalt: string | null;
  /** Pepper version used for an argon2id hash; null for legacy hashes. */
  pepperVersion: number | null;
  mustChangePassword: number;
  passwordChangedAt: number;
  createdAt: number;
  updatedAt: number;
}

export interface SessionsTable {
  /** The sid claim; also the refresh-token family. */
  id: string;
  userId: string;
  /** JSON array of authentication methods, e.g. ["pwd"]. */
  amr: string;
  ip: string | null;
  userAgent: string | null;
  createdAt: number;
  updatedAt: number;
  lastSeenAt: number;
  /** Absolute end of life (refresh-token lifetime). */
  expiresAt: number;
  revokedAt: number | null;
  revokedReason: string | null;
}

export interface RefreshTokensTable {
  id: string;
  sessionId: string;
  /** SHA-256 (hex) of the secret part. */
  tokenHash: string;
  createdAt: number;
  updatedAt: number;
  expiresAt: number;
  /** Set when the token has been exchanged; presenting it again is reuse. */
  usedAt: number | null;
}

export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  refreshTokens: RefreshTokensTable;
}

/**
 * Everything that differs between SQLite and PostgreSQL, by name, so query
 * code asks "is this a unique violation?" instead of testing driver codes.
 */
export type DialectName = 'sqlite' | 'postgres';

export interface DialectCapabilities {
  readonly name: DialectName;
  /** Whether a failed migration's DDL rolls back with its transaction (Kysely's adapters say so for PostgreSQL only). */
  readonly transactionalDdl: boolean;
  /** A UNIQUE or PRIMARY KEY constraint refused the write. */
  isUniqueViolation(err: unknown): boolean;
  /** A FOREIGN KEY constraint refused the write. */
  isForeignKeyViolation(err: unknown): boolean;
}

/** The driver's error code, looking through our own wrappers' `cause` chain. */
function driverCodes(err: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = err;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

const hasCode = (err: unknown, wanted: readonly string[]): boolean => driverCodes(err).some((code) => wanted.includes(code));

// better-sqlite3 reports SQLite's extended result codes by name.
const SQLITE_UNIQUE = ['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_PRIMARYKEY'] as const;
const SQLITE_FOREIGN_KEY = ['SQLITE_CONSTRAINT_FOREIGNKEY'] as const;
// pg reports SQLSTATE: class 23, integrity constraint violation.
const PG_UNIQUE = ['23505'] as const;
const PG_FOREIGN_KEY = ['23503'] as const;

export const dialects: Record<DialectName, DialectCapabilities> = {
  sqlite: {
    name: 'sqlite',
    transactionalDdl: false,
    isUniqueViolation: (err) => hasCode(err, SQLITE_UNIQUE),
    isForeignKeyViolation: (err) => hasCode(err, SQLITE_FOREIGN_KEY),
  },
  postgres: {
    name: 'postgres',
    transactionalDdl: true,
    isUniqueViolation: (err) => hasCode(err, PG_UNIQUE),
    isForeignKeyViolation: (err) => hasCode(err, PG_FOREIGN_KEY),
  },
};

/** Either driver's unique violation; the codes cannot collide, so no dialect is needed. */
export function isUniqueViolation(err: unknown): boolean {
  return dialects.sqlite.isUniqueViolation(err) || dialects.postgres.isUniqueViolation(err);
}

/** Either driver's foreign-key violation. */
export function isForeignKeyViolation(err: unknown): boolean {
  return dialects.sqlite.isForeignKeyViolation(err) || dialects.postgres.isForeignKeyViolation(err);
}

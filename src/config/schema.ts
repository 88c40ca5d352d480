import { Type, type Static } from 'typebox';

/**
 * The one schema for every setting. File, environment and secret sources are
 * merged first, then validated here; an unknown key or a wrong type stops
 * start-up. Keys marked `secret` can also come from `…_FILE` and the age file,
 * and never appear in logs or errors.
 */
const secret = <T extends object>(schema: T) => ({ ...schema, 'x-secret': true }) as T;

const Secret = secret(Type.String({ minLength: 16, description: 'base64url secret' }));

export const PasswordPolicySchema = Type.Object(
  {
    minLength: Type.Integer({ minimum: 8, maximum: 128, default: 12 }),
    requireUpper: Type.Boolean({ default: true }),
    requireLower: Type.Boolean({ default: true }),
    requireDigit: Type.Boolean({ default: true }),
    requireSymbol: Type.Boolean({ default: true }),
  },
  { additionalProperties: false, default: {} },
);

export const ConfigSchema = Type.Object(
  {
    dataDir: Type.String({ minLength: 1, default: './data' }),
    server: Type.Object(
      {
        host: Type.String({ minLength: 1, default: '0.0.0.0' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8768 }),
        /** Optional plain-HTTP port that only redirects to HTTPS. */
        httpPort: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
        /** Externally visible base URL, e.g. https://fleet.example.com. */
        publicUrl: Type.Optional(Type.String({ minLength: 1 })),
        tls: Type.Object(
          {
            certFile: Type.Optional(Type.String({ minLength: 1 })),
            keyFile: Type.Optional(Type.String({ minLength: 1 })),
            /** Extra DNS names / IPs for the generated self-signed certificate. */
            names: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    database: Type.Object(
      {
        /** PostgreSQL URL; absent means embedded SQLite in the data dir. */
        url: Type.Optional(secret(Type.String({ minLength: 1 }))),
        /** Owner-role URL used only for migrations (defaults to url). */
        migrationUrl: Type.Optional(secret(Type.String({ minLength: 1 }))),
      },
      { additionalProperties: false, default: {} },
    ),
    redis: Type.Object(
      {
        /** redis:// or rediss:// URL; absent means the in-process KV. */
        url: Type.Optional(secret(Type.String({ minLength: 1 }))),
        /** Key and channel prefix, so several deployments can share one Redis. */
        prefix: Type.String({ minLength: 1, maxLength: 64, default: 'flotilla:' }),
      },
      { additionalProperties: false, default: {} },
    ),
    log: Type.Object(
      {
        level: Type.Union(
          [Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')],
          { default: 'info' },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    security: Type.Object(
      {
        /** Idle timeout of a browser or bearer session, in seconds. */
        sessionTimeout: Type.Integer({ minimum: 60, maximum: 604800, default: 3600 }),
        accessTokenTtl: Type.Integer({ minimum: 60, maximum: 86400, default: 1800 }),
        refreshTokenTtl: Type.Integer({ minimum: 3600, maximum: 2592000, default: 604800 }),
        /** Concurrent argon2 computations; each takes 64 MiB. */
        argon2Concurrency: Type.Integer({ minimum: 1, maximum: 64, default: 4 }),
        passwordPolicy: PasswordPolicySchema,
        /** Decoy usernames; nobody may create a real user with one of them. */
        honeyAccounts: Type.Array(Type.String({ pattern: '^[a-zA-Z0-9_.-]{3,64}$' }), { default: ['admin_backup', 'system_test'] }),
      },
      { additionalProperties: false, default: {} },
    ),
    bootstrap: Type.Object(
      {
        /** Create user `admin` with a one-time password on an empty database. */
        initialAdmin: Type.Boolean({ default: true }),
      },
      { additionalProperties: false, default: {} },
    ),
    secrets: Type.Object(
      {
        jwt: Type.Optional(Secret),
        /** Pepper versions; the highest version hashes new passwords. */
        // additionalProperties/minProperties: a record only checks keys matching its pattern, so
        // without them a version like "v1" or an empty pepper would pass validation.
        pepper: Type.Optional(
          secret(Type.Record(Type.String({ pattern: '^[1-9][0-9]{0,3}$' }), Type.String({ minLength: 16 }), { additionalProperties: false, minProperties: 1 })),
        ),
        e2ee: Type.Optional(Secret),
        db: Type.Optional(Secret),
        audit: Type.Optional(Secret),
        commandSigning: Type.Optional(Secret),
        cluster: Type.Optional(Secret),
        /** An age-encrypted JSON file of the secrets above. */
        ageFile: Type.Optional(Type.String({ minLength: 1 })),
        /** The age identity (private key) file that decrypts ageFile. */
        ageIdentityFile: Type.Optional(Type.String({ minLength: 1 })),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
export type PasswordPolicy = Static<typeof PasswordPolicySchema>;
/** The secrets every node needs, resolved (generated or supplied). */
export interface Secrets {
  jwt: string;
  pepper: Record<string, string>;
  e2ee: string;
  db: string;
  audit: string;
  commandSigning: string;
  cluster: string;
}
export const SECRET_NAMES = ['jwt', 'pepper', 'e2ee', 'db', 'audit', 'commandSigning', 'cluster'] as const;

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

/** A sliding-window limit: at most `limit` hits in any `windowSeconds`. */
const rateRule = (limit: number, windowSeconds: number) =>
  Type.Object(
    {
      limit: Type.Integer({ minimum: 1, maximum: 1_000_000, default: limit }),
      windowSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: windowSeconds }),
    },
    { additionalProperties: false, default: {} },
  );

/** Perimeter controls; the defaults are the secure setting. */
export const PerimeterSchema = Type.Object(
  {
    /** Adds `preload` to HSTS: only for a domain that is (to be) on the browsers' preload list. */
    hstsPreload: Type.Boolean({ default: false }),
    cors: Type.Object(
      {
        /** Exact origins (`https://app.example.com`) allowed to call the API with credentials; empty = CORS off. */
        allowedOrigins: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { default: [] }),
        allowedMethods: Type.Array(Type.Union([Type.Literal('GET'), Type.Literal('HEAD'), Type.Literal('POST'), Type.Literal('PUT'), Type.Literal('PATCH'), Type.Literal('DELETE')]), {
          default: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
        }),
        allowedHeaders: Type.Array(Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$' }), { default: ['content-type', 'x-csrf-token', 'authorization'] }),
        maxAgeSeconds: Type.Integer({ minimum: 0, maximum: 86_400, default: 600 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Reverse proxies (IPs or CIDRs) whose client-IP header is believed; empty = the TCP peer is the client. */
    trustedProxies: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { default: [] }),
    /** Which header trusted proxies put the client in; the others are ignored. */
    clientIpHeader: Type.Union([Type.Literal('x-forwarded-for'), Type.Literal('forwarded'), Type.Literal('x-real-ip')], { default: 'x-forwarded-for' }),
    rateLimit: Type.Object(
      {
        /** Every request per client IP (IPv6: per /64). */
        ip: rateRule(100, 60),
        /** Every request per signed-in user. */
        user: rateRule(1000, 3600),
        /** Agent routes, per agent (not per IP: many agents share a NAT). */
        agent: rateRule(300, 60),
        /** Failed login attempts per client IP (successes give their slot back). */
        login: rateRule(5, 300),
        /** Named limits a route can declare in `config.policy.rateLimit`, per client IP. */
        endpoints: Type.Record(Type.String({ pattern: '^[a-z][a-z0-9_-]{0,31}$' }), rateRule(100, 60), { additionalProperties: false, default: {} }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** When set, only these IPs / CIDRs (IPv4 or IPv6) reach `/api/admin/*` and `/admin*`. */
    adminIpAllowlist: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { default: [] }),
    geoBlocking: Type.Object(
      {
        /** ISO 3166-1 alpha-2 codes whose clients are refused; empty = off. */
        countries: Type.Array(Type.String({ pattern: '^[A-Z]{2}$' }), { default: [] }),
        /** An MMDB country database (MaxMind GeoLite2-Country or ip-location-db); default the bundled CC0 one. */
        databasePath: Type.Optional(Type.String({ minLength: 1 })),
      },
      { additionalProperties: false, default: {} },
    ),
    scanner: Type.Object(
      {
        /** More 404s than this in the window blocks the client IP. */
        notFoundLimit: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 30 }),
        /** More 401s than this in the window blocks the client IP. */
        authFailureLimit: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 20 }),
        windowSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 600 }),
        blockSeconds: Type.Integer({ minimum: 1, maximum: 604_800, default: 3600 }),
      },
      { additionalProperties: false, default: {} },
    ),
    egress: Type.Object(
      {
        /** Private or local networks outbound calls may still reach (e.g. an internal webhook receiver). */
        allowedNetworks: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { default: [] }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** A second HTTPS listener requiring client certificates; when set, admin routes are served only there. */
    adminListener: Type.Optional(
      Type.Object(
        {
          port: Type.Integer({ minimum: 0, maximum: 65535 }),
          /** Defaults to server.host. */
          host: Type.Optional(Type.String({ minLength: 1 })),
          /** PEM bundle of the CA(s) client certificates must chain to. */
          caFile: Type.String({ minLength: 1 }),
          /** Defaults to the main listener's certificate. */
          certFile: Type.Optional(Type.String({ minLength: 1 })),
          keyFile: Type.Optional(Type.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
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
        /** Externally visible base URL, e.g. https://fleet.example.com; the plain-HTTP port redirects to its origin. */
        publicUrl: Type.Optional(Type.String({ minLength: 1, pattern: '^https://[^\\s]+$' })),
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
        /** Issuer shown by authenticator apps for TOTP, and the WebAuthn relying-party name. */
        organizationName: Type.String({ minLength: 1, maxLength: 64, default: 'Flotilla' }),
        /** Admins without a second factor may only enroll one until they have. */
        requireMfaForAdmins: Type.Boolean({ default: true }),
        /** Failed logins (password or second factor) that lock an account. */
        maxLoginAttempts: Type.Integer({ minimum: 1, maximum: 100, default: 5 }),
        /** Seconds an account stays locked; also the window the failures are counted in. */
        lockoutDuration: Type.Integer({ minimum: 1, maximum: 86400, default: 900 }),
        /** More failures than this within an hour suspend the account until an admin reactivates it. */
        suspendAfterFailures: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
        /** Skip the second factor at a location (IP, /24 or /64) where the user completed MFA before; admins under requireMfaForAdmins never skip. */
        skipMfaAtKnownLocations: Type.Boolean({ default: false }),
        webauthn: Type.Object(
          {
            /** Relying-party id: the registrable domain passkeys are bound to. */
            rpId: Type.String({ minLength: 1, maxLength: 253, default: 'localhost' }),
            /** Accepted origins; default the origin of server.publicUrl, else https://localhost:<listening port>. */
            origins: Type.Array(Type.String({ minLength: 1, maxLength: 512 }), { default: [] }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    fleet: Type.Object(
      {
        /** How often agents report, in seconds; sent to each agent at enrollment and in every answer. */
        reportIntervalSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 10 }),
        /** Refuse plaintext (unsealed) reports (docs/protocol.md). */
        requireSealing: Type.Boolean({ default: true }),
        retention: Type.Object(
          {
            rawHours: Type.Integer({ minimum: 1, maximum: 8760, default: 48 }),
            minuteDays: Type.Integer({ minimum: 1, maximum: 3650, default: 30 }),
            hourDays: Type.Integer({ minimum: 1, maximum: 36500, default: 400 }),
          },
          { additionalProperties: false, default: {} },
        ),
        /** How long a rotated sealing key version stays accepted, in seconds. */
        keyGraceSeconds: Type.Integer({ minimum: 0, maximum: 2592000, default: 86400 }),
        /** Allowed difference between an envelope's ts and the server clock, in seconds. */
        clockSkewSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 300 }),
        /** Ping period of the agent channel; at most 15, since agents drop a channel silent for 35 s. */
        channelHeartbeatSeconds: Type.Integer({ minimum: 1, maximum: 15, default: 15 }),
        /** Caps on open live event streams (`GET /api/fleet/events`), per node. */
        streams: Type.Object(
          {
            maxPerSession: Type.Integer({ minimum: 1, maximum: 1000, default: 5 }),
            maxPerUser: Type.Integer({ minimum: 1, maximum: 10_000, default: 20 }),
            /** Streams of non-admins; admins are not counted, so they always get one. */
            maxTotal: Type.Integer({ minimum: 1, maximum: 100_000, default: 1000 }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    commands: Type.Object(
      {
        /** Approvals by admins other than the requester that a high-risk command (run_script, restart_agent) needs. */
        approvals: Type.Integer({ minimum: 1, maximum: 3, default: 1 }),
        /** How long a signed command stays valid after approval, unless the request sets ttlSeconds. */
        defaultTtlSeconds: Type.Integer({ minimum: 10, maximum: 86400, default: 600 }),
        maxTtlSeconds: Type.Integer({ minimum: 10, maximum: 86400, default: 86400 }),
        /** A request not approved within this many seconds expires. */
        approvalWindowSeconds: Type.Integer({ minimum: 60, maximum: 604800, default: 86400 }),
        /** Most machines one request may reach. */
        maxTargets: Type.Integer({ minimum: 1, maximum: 100000, default: 1000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    audit: Type.Object(
      {
        /** Entries older than this are removed, leaving a signed anchor at the cut. */
        retentionDays: Type.Integer({ minimum: 1, maximum: 36500, default: 90 }),
        /** Signed checkpoints of the chain head, outside the database; default <dataDir>/audit-checkpoints.jsonl. */
        checkpointFile: Type.Optional(Type.String({ minLength: 1 })),
        checkpointIntervalSeconds: Type.Integer({ minimum: 10, maximum: 86400, default: 600 }),
      },
      { additionalProperties: false, default: {} },
    ),
    securityLog: Type.Object(
      {
        /** One key=value line per security event, for fail2ban and SIEMs. */
        enabled: Type.Boolean({ default: true }),
        /** Default <dataDir>/logs/security.log. */
        path: Type.Optional(Type.String({ minLength: 1 })),
        /** Also write each line to standard output (containers). */
        stdout: Type.Boolean({ default: false }),
      },
      { additionalProperties: false, default: {} },
    ),
    metrics: Type.Object(
      {
        /** Bearer token for GET /metrics; without it /metrics answers 401. */
        token: Type.Optional(secret(Type.String({ minLength: 16 }))),
      },
      { additionalProperties: false, default: {} },
    ),
    detection: Type.Object(
      {
        /** More failed logins than this from one IP within the window block the IP. */
        ipFailureLimit: Type.Integer({ minimum: 1, maximum: 100000, default: 20 }),
        ipFailureWindowSeconds: Type.Integer({ minimum: 1, maximum: 86400, default: 3600 }),
        blockTtlSeconds: Type.Integer({ minimum: 1, maximum: 2592000, default: 3600 }),
        /** A honey-account hit blocks its IP this long. */
        honeyBlockTtlSeconds: Type.Integer({ minimum: 1, maximum: 2592000, default: 86400 }),
        /** An agent key seen from a second IP within this many seconds of the first raises an alert. */
        agentIpWindowSeconds: Type.Integer({ minimum: 1, maximum: 86400, default: 300 }),
        /** Never blocked automatically (a local reverse proxy or health checker). */
        exemptCidrs: Type.Array(Type.String({ minLength: 1 }), { default: ['127.0.0.0/8', '::1/128'] }),
        /** The same alert (kind and subject) is sent at most once per this many seconds. */
        alertDedupSeconds: Type.Integer({ minimum: 1, maximum: 86400, default: 600 }),
      },
      { additionalProperties: false, default: {} },
    ),
    alerts: Type.Object(
      {
        /** Alerts are POSTed here with an HMAC-SHA256 signature; https unless loopback. */
        webhookUrl: Type.Optional(Type.String({ minLength: 1 })),
        /** Signs every webhook body; required with webhookUrl. */
        webhookSecret: Type.Optional(secret(Type.String({ minLength: 16 }))),
        /** Time limit of one webhook attempt. */
        webhookTimeoutMs: Type.Integer({ minimum: 100, maximum: 60000, default: 5000 }),
        /** Slack incoming-webhook URL; the URL itself is the credential. */
        slackWebhookUrl: Type.Optional(secret(Type.String({ minLength: 1, maxLength: 2048 }))),
        pagerduty: Type.Object(
          {
            /** Events API v2 integration key; setting it turns PagerDuty on. */
            routingKey: Type.Optional(secret(Type.String({ minLength: 1, maxLength: 128 }))),
            /** The Events API v2 endpoint (an EU account uses events.eu.pagerduty.com). */
            url: Type.String({ minLength: 1, default: 'https://events.pagerduty.com/v2/enqueue' }),
          },
          { additionalProperties: false, default: {} },
        ),
        /** Alert mails over SMTP with TLS required; off unless set. */
        email: Type.Optional(
          Type.Object(
            {
              /** The relay's host name (checked by the egress guard, and the name its certificate must carry). */
              host: Type.String({ pattern: '^[A-Za-z0-9._:-]{1,253}$' }),
              /** Submission port; 25 is refused by the egress guard. */
              port: Type.Integer({ minimum: 1, maximum: 65535, default: 587 }),
              /** `starttls` refuses a server without STARTTLS; `implicit` is TLS from the start (port 465). No plaintext mode. */
              tlsMode: Type.Union([Type.Literal('starttls'), Type.Literal('implicit')], { default: 'starttls' }),
              username: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
              password: Type.Optional(secret(Type.String({ minLength: 1, maxLength: 1024 }))),
              from: Type.String({ pattern: '^[^\\s<>@]{1,64}@[^\\s<>@]{1,253}$' }),
              to: Type.Array(Type.String({ pattern: '^[^\\s<>@]{1,64}@[^\\s<>@]{1,253}$' }), { minItems: 1, maxItems: 50 }),
              /** PEM file of the CA(s) to trust for a relay with a private CA; default the system roots. */
              caFile: Type.Optional(Type.String({ minLength: 1 })),
            },
            { additionalProperties: false },
          ),
        ),
        /** Time limit of one Slack, PagerDuty or email attempt. */
        timeoutMs: Type.Integer({ minimum: 100, maximum: 60000, default: 10000 }),
        retry: Type.Object(
          {
            /** Attempts per alert and channel, the first included. */
            attempts: Type.Integer({ minimum: 1, maximum: 10, default: 4 }),
            /** Wait after the first failure; doubles after each, with jitter. */
            baseDelayMs: Type.Integer({ minimum: 1, maximum: 600000, default: 2000 }),
            /** Longest wait between two attempts. */
            maxDelayMs: Type.Integer({ minimum: 1, maximum: 3600000, default: 60000 }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    perimeter: PerimeterSchema,
    bootstrap: Type.Object(
      {
        /** Create user `admin` with a one-time password on an empty database. */
        initialAdmin: Type.Boolean({ default: true }),
      },
      { additionalProperties: false, default: {} },
    ),
    /**
     * `flotilla server` enrolls and runs an agent for its own host, so the
     * fleet is never empty. Absent means on in embedded mode, off in cluster
     * mode (every node would enroll its own host).
     */
    localAgent: Type.Optional(Type.Boolean()),
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
export type PerimeterConfig = Static<typeof PerimeterSchema>;
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

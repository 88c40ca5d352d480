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
  /** The jti of the session's current access token; any other is superseded (0005). */
  accessJti: string | null;
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

export interface EnrollmentTokensTable {
  id: string;
  /** SHA-256 (hex) of the secret part. */
  secretHash: string;
  note: string | null;
  maxUses: number;
  uses: number;
  expiresAt: number;
  revokedAt: number | null;
  /** User id of the admin who made it; null from the CLI. */
  createdBy: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface AgentsTable {
  /** Also the machine id. */
  id: string;
  /** SHA-256 (hex) of the API key's secret part. */
  keyHash: string;
  /** Current sealing key version. */
  kid: number;
  /** The version before the last rotation, accepted until prevKidUntil. */
  prevKid: number | null;
  prevKidUntil: number | null;
  /** Highest report seq accepted. */
  lastSeq: number;
  /** Highest command-result seq accepted. */
  lastResultSeq: number;
  intervalSeconds: number;
  enrollmentTokenId: string | null;
  enrolledAt: number;
  revokedAt: number | null;
  lastIp: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface MachinesTable {
  id: string;
  hostname: string;
  os: string;
  platform: string;
  arch: string;
  serial: string | null;
  agentVersion: string | null;
  /** JSON text of the last facts the agent sent. */
  facts: string;
  /** SHA-256 (hex) of `facts`, to skip rewriting unchanged facts. */
  factsHash: string;
  lastSeenAt: number | null;
  /** collectedAt of the newest report. */
  lastCollectedAt: number | null;
  /** Latest values for the list: percents, bytes per second, load. */
  cpu: number | null;
  mem: number | null;
  swap: number | null;
  disk: number | null;
  netRx: number | null;
  netTx: number | null;
  load1: number | null;
  /** Network byte counters of the newest report, to turn the next one into rates. */
  netRxTotal: number | null;
  netTxTotal: number | null;
  /** JSON text of the newest report's details (per-core, disks, processes…). */
  latest: string | null;
  decommissionedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface MachineTagsTable {
  machineId: string;
  tag: string;
  createdAt: number;
  updatedAt: number;
}

export interface MetricsRawTable {
  machineId: string;
  /** The report's collectedAt. */
  ts: number;
  cpu: number | null;
  mem: number | null;
  swap: number | null;
  disk: number | null;
  netRx: number | null;
  netTx: number | null;
  load1: number | null;
  createdAt: number;
  updatedAt: number;
}

/** metrics_minute and metrics_hour: average and maximum of each metric per bucket. */
export interface MetricsRollupTable {
  machineId: string;
  /** Bucket start, ms. */
  bucket: number;
  count: number;
  cpuAvg: number | null;
  cpuMax: number | null;
  memAvg: number | null;
  memMax: number | null;
  swapAvg: number | null;
  swapMax: number | null;
  diskAvg: number | null;
  diskMax: number | null;
  netRxAvg: number | null;
  netRxMax: number | null;
  netTxAvg: number | null;
  netTxMax: number | null;
  load1Avg: number | null;
  load1Max: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface JobWatermarksTable {
  name: string;
  value: number;
  createdAt: number;
  updatedAt: number;
}

/** A user's TOTP authenticator; active once confirmedAt is set. */
export interface MfaTotpTable {
  userId: string;
  /** The base32 secret, sealed with at-rest encryption (never stored in clear). */
  secretEnc: string;
  confirmedAt: number | null;
  /** Highest 30 s time step accepted; a code for it or an earlier one is refused. */
  lastUsedStep: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface MfaBackupCodesTable {
  id: string;
  userId: string;
  /** HMAC-SHA256 (hex) of the normalized code under a key derived from secrets.db. */
  codeHash: string;
  usedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface WebauthnCredentialsTable {
  id: string;
  userId: string;
  /** The credential id as the authenticator gives it, base64url. */
  credentialId: string;
  /** COSE public key, base64url. */
  publicKey: string;
  /** Signature counter last seen; an assertion must raise it (when the authenticator counts). */
  counter: number;
  /** JSON array of transports. */
  transports: string;
  name: string;
  /** 'singleDevice' | 'multiDevice' */
  deviceType: string;
  backedUp: number;
  lastUsedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

/** Where a user has logged in from: IPv4 /24 or IPv6 /64 prefixes, bounded per user. */
export interface LoginLocationsTable {
  userId: string;
  prefix: string;
  lastSeenAt: number;
  createdAt: number;
  updatedAt: number;
}

/** An account locked after repeated failures (users.status is 'locked' meanwhile). */
export interface AccountLockoutsTable {
  userId: string;
  lockedUntil: number;
  createdAt: number;
  updatedAt: number;
}

/** One link of the audit chain; every column but createdAt/updatedAt is hashed. */
export interface AuditLogTable {
  seq: number;
  ts: number;
  /** 'user' | 'agent' | 'system' | 'anonymous' */
  actorType: string;
  actorId: string | null;
  actorIp: string | null;
  action: string;
  resourceType: string | null;
  resourceId: string | null;
  /** Canonical JSON text (RFC 8785) of whitelisted fields, never secrets. */
  before: string | null;
  after: string | null;
  success: number;
  error: string | null;
  /** Hex HMAC-SHA256 of the previous entry (or of the anchor, or 64 zeros at genesis). */
  prevHash: string;
  hash: string;
  createdAt: number;
  updatedAt: number;
}

/** Signed {seq, hash, ts} of the last entry retention removed, so the rest still verifies. */
export interface AuditAnchorsTable {
  seq: number;
  hash: string;
  ts: number;
  sig: string;
  createdAt: number;
  updatedAt: number;
}

export interface CommandRequestsTable {
  id: string;
  action: string;
  /** Canonical JSON text of the action's params. */
  params: string;
  scriptSha256: string | null;
  /** JSON text: {"machines":[…]} or {"tag":"…"}. */
  target: string;
  requestedBy: string;
  state: string;
  approvalsRequired: number;
  ttlSeconds: number;
  approvalExpiresAt: number;
  approvedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface CommandApprovalsTable {
  requestId: string;
  userId: string;
  decision: string;
  comment: string | null;
  at: number;
}

export interface CommandsTable {
  id: string;
  requestId: string;
  agentId: string;
  state: string;
  /** JSON text of the signed command as sent to the agent. */
  signed: string | null;
  issuedAt: number | null;
  expiresAt: number | null;
  deliveredAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  exitCode: number | null;
  signal: string | null;
  output: string | null;
  outputBytes: number | null;
  outputSha256: string | null;
  /** 0/1. */
  truncated: number | null;
  reason: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  refreshTokens: RefreshTokensTable;
  enrollmentTokens: EnrollmentTokensTable;
  agents: AgentsTable;
  machines: MachinesTable;
  machineTags: MachineTagsTable;
  metricsRaw: MetricsRawTable;
  metricsMinute: MetricsRollupTable;
  metricsHour: MetricsRollupTable;
  jobWatermarks: JobWatermarksTable;
  mfaTotp: MfaTotpTable;
  mfaBackupCodes: MfaBackupCodesTable;
  webauthnCredentials: WebauthnCredentialsTable;
  loginLocations: LoginLocationsTable;
  accountLockouts: AccountLockoutsTable;
  auditLog: AuditLogTable;
  auditAnchors: AuditAnchorsTable;
  commandRequests: CommandRequestsTable;
  commandApprovals: CommandApprovalsTable;
  commands: CommandsTable;
}

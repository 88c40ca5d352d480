/**
 * The JSON shapes the dashboard reads (DESIGN.md §13). Written out here rather
 * than imported: the dashboard speaks only HTTP, and these are the contract.
 */

export type Role = 'admin' | 'operator' | 'viewer';
export type MachineStatus = 'online' | 'warning' | 'offline' | 'decommissioned';

export interface Page<T> {
  items: T[];
  next: string | null;
}

export interface User {
  id: string;
  username: string;
  role: Role;
  status: 'active' | 'locked' | 'suspended';
  passwordChangeRequired: boolean;
  createdAt: number;
  updatedAt: number;
}

export interface LoginSuccess {
  user: User;
  csrfToken: string;
  passwordChangeRequired: boolean;
}

export interface MfaChallenge {
  mfaRequired: true;
  mfaTicket: string;
  methods: string[];
}

export type LoginAnswer = LoginSuccess | MfaChallenge;

export interface PasswordChanged {
  user: User;
  csrfToken?: string;
  expiresIn: number;
}

export interface Session {
  id: string;
  ip: string | null;
  userAgent: string | null;
  amr: string[];
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  current: boolean;
}

export interface DashboardSettings {
  serverPin: string | null;
  sessionTimeoutSeconds: number;
}

export interface FleetSummary {
  total: number;
  online: number;
  warning: number;
  offline: number;
  decommissioned: number;
  averages: { cpu: number | null; memory: number | null; disk: number | null };
}

export interface MachineRow {
  id: string;
  hostname: string;
  os: string;
  platform: string;
  arch: string;
  serial: string | null;
  agentVersion: string | null;
  status: MachineStatus;
  intervalSeconds: number;
  enrolledAt: number;
  lastSeenAt: number | null;
  decommissionedAt: number | null;
  cpu: number | null;
  memory: number | null;
  swap: number | null;
  disk: number | null;
  netRx: number | null;
  netTx: number | null;
  load1: number | null;
  tags: string[];
}

export interface FactsDisk {
  name: string;
  model?: string;
  type?: string;
  sizeBytes?: number;
}

export interface FactsInterface {
  name: string;
  mac?: string;
  addresses: string[];
}

export interface Facts {
  hostname: string;
  os: string;
  platform: string;
  arch: string;
  kernel?: string;
  cpuModel?: string;
  cpuCores?: number;
  memoryBytes?: number;
  serial?: string;
  agentVersion?: string;
  disks?: FactsDisk[];
  interfaces?: FactsInterface[];
}

export interface ProcessInfo {
  pid: number;
  name: string;
  cpu: number;
  mem: number;
}

export interface LatestReport {
  collectedAt: number;
  cpu?: { percent: number; perCore?: number[]; load?: number[] };
  memory?: { totalBytes: number; usedBytes: number };
  swap?: { totalBytes: number; usedBytes: number };
  disks?: Array<{ mount: string; fs?: string; totalBytes: number; usedBytes: number }>;
  network?: Array<{ iface: string; rxBytes: number; txBytes: number }>;
  processes?: { count: number; topCpu?: ProcessInfo[]; topMemory?: ProcessInfo[] };
  uptimeSeconds?: number;
  battery?: { percent: number; charging: boolean };
  temperature?: { cpuCelsius: number };
}

export interface MachineDetail extends MachineRow {
  facts: Facts;
  lastCollectedAt: number | null;
  latest: LatestReport | null;
}

export type HistoryMetric = 'cpu' | 'memory' | 'swap' | 'disk' | 'netRx' | 'netTx' | 'load1';

export interface History {
  machineId: string;
  metric: HistoryMetric;
  resolution: string;
  from: number;
  to: number;
  points: Array<{ t: number; avg: number | null; max: number | null }>;
  truncated: boolean;
}

export interface TagCount {
  tag: string;
  count: number;
}

export interface EnrollmentToken {
  id: string;
  note: string | null;
  maxUses: number;
  uses: number;
  expiresAt: number;
  revokedAt: number | null;
  createdBy: string | null;
  createdAt: number;
  state: 'active' | 'expired' | 'used_up' | 'revoked';
}

export interface CreatedEnrollmentToken {
  id: string;
  token: string;
  expiresAt: number;
  maxUses: number;
}

export interface Agent {
  id: string;
  hostname: string;
  kid: number;
  intervalSeconds: number;
  enrolledAt: number;
  lastSeenAt: number | null;
  lastIp: string | null;
  revokedAt: number | null;
  status: MachineStatus;
}

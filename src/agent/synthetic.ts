import type { Facts, Report } from '../protocol/report.js';
import { AGENT_VERSION } from './version.js';

/** A small seeded PRNG (mulberry32), so a simulated fleet is the same on every run with the same seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const GiB = 1024 ** 3;

interface Profile {
  role: string;
  platform: 'linux' | 'darwin' | 'win32';
  os: string[];
  cores: number[];
  memoryGiB: number[];
  diskGiB: number[];
  /** Typical CPU and memory use, 0-100. */
  cpuBase: number;
  memBase: number;
  laptop: boolean;
  processes: string[];
}

const LINUX_PROCS = ['systemd', 'sshd', 'nginx', 'postgres', 'node', 'java', 'python3', 'dockerd', 'containerd', 'redis-server', 'cron', 'rsyslogd', 'journald', 'prometheus'];
const MAC_PROCS = ['kernel_task', 'WindowServer', 'Safari', 'Slack', 'Google Chrome', 'Finder', 'mds_stores', 'Code Helper', 'zoom.us', 'Mail'];
const WIN_PROCS = ['System', 'svchost.exe', 'explorer.exe', 'msedge.exe', 'Teams.exe', 'OUTLOOK.EXE', 'MsMpEng.exe', 'dwm.exe', 'lsass.exe', 'SearchHost.exe'];

const PROFILES: Profile[] = [
  { role: 'web', platform: 'linux', os: ['Ubuntu 24.04', 'Debian GNU/Linux 12'], cores: [2, 4, 8], memoryGiB: [4, 8, 16], diskGiB: [40, 80], cpuBase: 25, memBase: 45, laptop: false, processes: LINUX_PROCS },
  { role: 'db', platform: 'linux', os: ['Ubuntu 22.04', 'Rocky Linux 9.4'], cores: [8, 16, 32], memoryGiB: [32, 64, 128], diskGiB: [500, 1000, 2000], cpuBase: 40, memBase: 75, laptop: false, processes: LINUX_PROCS },
  { role: 'build', platform: 'linux', os: ['Debian GNU/Linux 12', 'Fedora Linux 40'], cores: [16, 32, 64], memoryGiB: [64, 128, 256], diskGiB: [500, 1000], cpuBase: 60, memBase: 50, laptop: false, processes: LINUX_PROCS },
  { role: 'lt', platform: 'darwin', os: ['macOS 14.6', 'macOS 15.1'], cores: [8, 10, 12], memoryGiB: [16, 32], diskGiB: [512, 1024], cpuBase: 15, memBase: 65, laptop: true, processes: MAC_PROCS },
  { role: 'ws', platform: 'win32', os: ['Windows 11 Pro 23H2', 'Windows 10 Pro 22H2'], cores: [4, 8, 12], memoryGiB: [8, 16, 32], diskGiB: [256, 512], cpuBase: 20, memBase: 60, laptop: false, processes: WIN_PROCS },
  { role: 'kiosk', platform: 'linux', os: ['Raspberry Pi OS 12'], cores: [4], memoryGiB: [2, 4, 8], diskGiB: [32, 64], cpuBase: 10, memBase: 35, laptop: false, processes: LINUX_PROCS },
];
const SITES = ['ams', 'ber', 'lis', 'nyc', 'sfo', 'syd', 'tyo'];

/**
 * One made-up machine: fixed facts and metrics that drift plausibly (a random
 * walk around its profile, occasional spikes, counters that only grow).
 */
export class SyntheticMachine {
  readonly facts: Facts;
  readonly #rand: () => number;
  readonly #profile: Profile;
  #cpu: number;
  #mem: number;
  #diskUsed: number[];
  #rx: number;
  #tx: number;
  #bootAt: number;
  #battery: number;
  #factsSent = false;

  constructor(index: number, seed: number, startMs: number, hostname?: string) {
    this.#rand = seededRandom(seed * 7919 + index);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(this.#rand() * list.length)] as T;
    this.#profile = pick(PROFILES);
    const p = this.#profile;
    const cores = pick(p.cores);
    const memoryBytes = pick(p.memoryGiB) * GiB;
    const disk = pick(p.diskGiB) * GiB;
    const name = hostname ?? `${p.role}-${pick(SITES)}-${String(index + 1).padStart(3, '0')}`;
    const octet = (n: number) => Math.floor(this.#rand() * n);
    this.facts = {
      hostname: name,
      os: pick(p.os),
      platform: p.platform,
      arch: p.role === 'kiosk' ? 'arm64' : p.platform === 'darwin' ? pick(['arm64', 'x64']) : 'x64',
      kernel: p.platform === 'linux' ? pick(['6.1.0-25-amd64', '6.8.0-45-generic', '5.14.0-427.el9']) : p.platform === 'darwin' ? '24.1.0' : '10.0.22631',
      cpuModel: pick(['Intel Xeon Gold 6338', 'AMD EPYC 7543', 'Apple M3 Pro', 'Intel Core i7-1365U', 'AMD Ryzen 7 7840U', 'Broadcom BCM2712']),
      cpuCores: cores,
      memoryBytes,
      serial: `SIM${String(seed).padStart(4, '0')}${String(index).padStart(6, '0')}`,
      agentVersion: AGENT_VERSION,
      disks: [{ name: p.platform === 'win32' ? 'PhysicalDrive0' : '/dev/nvme0n1', model: 'Simulated NVMe', type: 'NVMe', sizeBytes: disk }],
      interfaces: [{ name: p.platform === 'linux' ? 'eth0' : p.platform === 'darwin' ? 'en0' : 'Ethernet', mac: randomMac(this.#rand), addresses: [`10.${octet(255)}.${octet(255)}.${1 + octet(253)}`] }],
    };
    this.#cpu = p.cpuBase;
    this.#mem = p.memBase;
    this.#diskUsed = [disk * (0.2 + this.#rand() * 0.6)];
    this.#rx = Math.floor(this.#rand() * 1e9);
    this.#tx = Math.floor(this.#rand() * 1e8);
    this.#bootAt = startMs - Math.floor(this.#rand() * 30 * 86_400_000);
    this.#battery = 40 + this.#rand() * 60;
  }

  /** The next report at `nowMs`; the first one carries the facts. */
  next(nowMs: number, intervalSeconds: number): Report {
    const r = this.#rand;
    const p = this.#profile;
    const facts = this.facts;
    const cores = facts.cpuCores ?? 1;
    const spike = r() < 0.03 ? 40 * r() : 0;
    this.#cpu = clamp(this.#cpu + (p.cpuBase - this.#cpu) * 0.2 + (r() - 0.5) * 12, 0.5, 100);
    this.#mem = clamp(this.#mem + (p.memBase - this.#mem) * 0.1 + (r() - 0.5) * 4, 5, 99);
    const cpu = clamp(this.#cpu + spike, 0, 100);
    const memoryTotal = facts.memoryBytes ?? GiB;
    const diskTotal = facts.disks?.[0]?.sizeBytes ?? 100 * GiB;
    this.#diskUsed = this.#diskUsed.map((used) => clamp(used + (r() - 0.3) * 50e6, 0, diskTotal));
    this.#rx += Math.floor(r() * 5e6 * intervalSeconds);
    this.#tx += Math.floor(r() * 1e6 * intervalSeconds);
    if (p.laptop) this.#battery = this.#battery < 15 ? 100 : this.#battery - r() * 0.2;
    const procs = p.processes.map((name, i) => ({ pid: 100 + i * 37, name, cpu: round(r() * cpu * 0.5), mem: round(r() * this.#mem * 0.3) }));
    const top = (by: 'cpu' | 'mem') => [...procs].sort((a, b) => b[by] - a[by]).slice(0, 5);
    const load1 = round((cpu / 100) * cores * (0.8 + r() * 0.4));
    const report: Report = {
      collectedAt: Math.trunc(nowMs),
      cpu: { percent: round(cpu), perCore: Array.from({ length: Math.min(cores, 64) }, () => round(clamp(cpu + (r() - 0.5) * 30, 0, 100))), load: [load1, round(load1 * 0.9), round(load1 * 0.8)] },
      memory: { totalBytes: memoryTotal, usedBytes: Math.floor((memoryTotal * this.#mem) / 100) },
      swap: { totalBytes: 2 * GiB, usedBytes: Math.floor(2 * GiB * clamp((this.#mem - 70) / 30, 0, 1) * 0.5) },
      disks: [{ mount: p.platform === 'win32' ? 'C:' : '/', fs: p.platform === 'win32' ? 'NTFS' : p.platform === 'darwin' ? 'apfs' : 'ext4', totalBytes: diskTotal, usedBytes: Math.floor(this.#diskUsed[0] ?? 0) }],
      network: [{ iface: facts.interfaces?.[0]?.name ?? 'eth0', rxBytes: this.#rx, txBytes: this.#tx }],
      processes: { count: 80 + Math.floor(r() * 300), topCpu: top('cpu'), topMemory: top('mem') },
      uptimeSeconds: Math.max(0, Math.floor((nowMs - this.#bootAt) / 1000)),
      ...(p.laptop ? { battery: { percent: round(this.#battery), charging: this.#battery > 95 } } : {}),
      ...(p.platform !== 'win32' ? { temperature: { cpuCelsius: round(35 + cpu * 0.5 + r() * 5) } } : {}),
    };
    if (!this.#factsSent) {
      report.facts = facts;
      this.#factsSent = true;
    }
    return report;
  }
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, n));
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

function randomMac(r: () => number): string {
  // Locally administered, unicast: never collides with a real vendor's address.
  const bytes = [0x02, ...Array.from({ length: 5 }, () => Math.floor(r() * 256))];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

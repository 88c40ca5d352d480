import { hostname, loadavg } from 'node:os';
import si from 'systeminformation';
import { Value } from 'typebox/value';
import { FactsSchema, ReportSchema, type Facts, type Report } from '../protocol/report.js';
import type { Clock } from '../lib/clock.js';
import { fitToSchema } from './fit.js';
import { silentLog, type AgentLog } from './log.js';
import { AGENT_VERSION } from './version.js';

const TOP_PROCESSES = 5;
/** Pseudo and in-memory filesystems say nothing about disk space. */
const SKIP_FS = /^(tmpfs|devtmpfs|ramfs|squashfs|proc|sysfs|cgroup2?|nsfs|efivarfs|autofs|devpts|mqueue|debugfs|tracefs|securityfs|pstore|bpf|fusectl|configfs|hugetlbfs|binfmt_misc|overlay|nullfs|devfs)$/i;
/** Placeholders firmware puts where a serial number should be. */
const NO_SERIAL = /^(|-|none|n\/a|0+|unknown|not specified|default string|to be filled by o\.e\.m\.|system serial number|chassis serial number)$/i;

export interface CollectorOptions {
  clock: Clock;
  log?: AgentLog;
  /** How often facts are re-read (some need a subprocess); default 5 minutes. */
  factsEveryMs?: number;
}

/**
 * Measures this machine with systeminformation (docs/protocol.md). Each
 * section is optional: one that fails or is unavailable is left out, never
 * the whole report. Facts go in the first report after start and whenever they
 * change. Every value is fitted to the report schema's bounds.
 */
export class MetricsCollector {
  readonly #clock: Clock;
  readonly #log: AgentLog;
  readonly #factsEveryMs: number;
  #sentFactsKey: string | null = null;
  #factsReadAt = -Infinity;
  #facts: Facts | null = null;
  #hasBattery: boolean | null = null;
  #temperatureMisses = 0;
  readonly #warned = new Set<string>();

  constructor(opts: CollectorOptions) {
    this.#clock = opts.clock;
    this.#log = opts.log ?? silentLog;
    this.#factsEveryMs = opts.factsEveryMs ?? 300_000;
  }

  async collect(): Promise<Report> {
    const collectedAt = Math.trunc(this.#clock.nowMs());
    const [cpu, memory, disks, network, processes, battery, temperature, facts] = await Promise.all([
      this.#section('cpu', readCpu),
      this.#section('memory', () => si.mem()),
      this.#section('disks', readDisks),
      this.#section('network', readNetwork),
      this.#section('processes', readProcesses),
      this.#section('battery', () => this.#readBattery()),
      this.#section('temperature', () => this.#readTemperature()),
      this.#changedFacts(collectedAt),
    ]);
    const raw: Record<string, unknown> = {
      collectedAt,
      facts,
      cpu,
      memory: memory ? { totalBytes: memory.total, usedBytes: memory.total - memory.available } : undefined,
      swap: memory ? { totalBytes: memory.swaptotal, usedBytes: memory.swapused } : undefined,
      disks,
      network,
      processes,
      uptimeSeconds: si.time().uptime,
      battery,
      temperature,
    };
    return this.#validated(raw);
  }

  /** Machine facts as enrollment sends them. */
  async facts(): Promise<Facts> {
    const raw = await readFacts();
    const fitted = fitToSchema(FactsSchema, raw);
    // Hostname, os, platform and arch always exist, so this only fails on a bug.
    if (!Value.Check(FactsSchema, fitted)) throw new Error('collected facts do not fit the report schema');
    return fitted;
  }

  /** Facts when they differ from the last ones put in a report (or none were yet). */
  async #changedFacts(now: number): Promise<Facts | undefined> {
    if (this.#facts === null || now - this.#factsReadAt >= this.#factsEveryMs) {
      const facts = await this.facts().catch((err: unknown) => {
        this.#warnOnce('facts', err);
        return null;
      });
      if (facts) {
        this.#facts = facts;
        this.#factsReadAt = now;
      }
    }
    if (!this.#facts) return undefined;
    const key = JSON.stringify(this.#facts);
    if (key === this.#sentFactsKey) return undefined;
    this.#sentFactsKey = key;
    return this.#facts;
  }

  /** Fits, then checks; a section that still fails is dropped, not the report. */
  #validated(raw: Record<string, unknown>): Report {
    const fitted = (fitToSchema(ReportSchema, raw) ?? { collectedAt: raw.collectedAt }) as Record<string, unknown>;
    if (Value.Check(ReportSchema, fitted)) return fitted;
    const report: Record<string, unknown> = { collectedAt: fitted.collectedAt };
    for (const [key, value] of Object.entries(fitted)) {
      if (key === 'collectedAt') continue;
      if (Value.Check(ReportSchema, { collectedAt: fitted.collectedAt, [key]: value })) report[key] = value;
      else this.#warnOnce(key, new Error('value outside the report schema'));
    }
    return report as Report;
  }

  async #section<T>(name: string, read: () => Promise<T | undefined>): Promise<T | undefined> {
    try {
      return await read();
    } catch (err) {
      this.#warnOnce(name, err);
      return undefined;
    }
  }

  #warnOnce(section: string, err: unknown): void {
    if (this.#warned.has(section)) return;
    this.#warned.add(section);
    this.#log.warn('a metric could not be collected; leaving it out', { section, reason: err instanceof Error ? err.message.slice(0, 200) : 'unknown' });
  }

  async #readBattery(): Promise<{ percent: number; charging: boolean } | undefined> {
    if (this.#hasBattery === false) return undefined;
    const battery = await si.battery();
    this.#hasBattery = battery.hasBattery;
    return battery.hasBattery ? { percent: battery.percent, charging: battery.isCharging } : undefined;
  }

  /** Sensors are often absent (VMs, containers): stop asking after a few misses. */
  async #readTemperature(): Promise<{ cpuCelsius: number } | undefined> {
    if (this.#temperatureMisses >= 3) return undefined;
    const t = await si.cpuTemperature();
    const celsius = typeof t.main === 'number' && t.main > 0 ? t.main : typeof t.max === 'number' && t.max > 0 ? t.max : null;
    if (celsius === null) {
      this.#temperatureMisses++;
      return undefined;
    }
    this.#temperatureMisses = 0;
    return { cpuCelsius: celsius };
  }
}

async function readCpu() {
  const load = await si.currentLoad();
  return { percent: load.currentLoad, perCore: load.cpus.map((c) => c.load), load: loadavg() };
}

async function readDisks() {
  const seen = new Set<string>();
  return (await si.fsSize())
    .filter((d) => d.size > 0 && (!SKIP_FS.test(d.type) || d.mount === '/'))
    .filter((d) => !seen.has(d.mount) && seen.add(d.mount))
    .map((d) => ({ mount: d.mount, fs: d.type || undefined, totalBytes: d.size, usedBytes: d.used }));
}

async function readNetwork() {
  return (await si.networkStats('*')).map((n) => ({ iface: n.iface, rxBytes: n.rx_bytes, txBytes: n.tx_bytes }));
}

async function readProcesses() {
  const all = await si.processes();
  const top = (by: 'cpu' | 'mem') =>
    [...all.list]
      .sort((a, b) => b[by] - a[by])
      .slice(0, TOP_PROCESSES)
      .map((p) => ({ pid: p.pid, name: p.name, cpu: p.cpu, mem: p.mem }));
  return { count: all.all, topCpu: top('cpu'), topMemory: top('mem') };
}

async function readFacts(): Promise<Record<string, unknown>> {
  const [os, cpu, mem, system, disks, interfaces] = await Promise.all([
    si.osInfo(),
    si.cpu().catch(() => null),
    si.mem().catch(() => null),
    si.system().catch(() => null),
    si.diskLayout().catch(() => []),
    si.networkInterfaces().catch(() => []),
  ]);
  const serial = system?.serial?.trim() ?? '';
  return {
    hostname: hostname() || os.hostname || 'unknown',
    os: `${os.distro} ${os.release}`.trim() || process.platform,
    platform: process.platform,
    arch: process.arch,
    kernel: os.kernel || undefined,
    cpuModel: cpu ? `${cpu.manufacturer} ${cpu.brand}`.trim() || undefined : undefined,
    cpuCores: cpu?.cores || undefined,
    memoryBytes: mem?.total,
    serial: NO_SERIAL.test(serial) ? undefined : serial,
    agentVersion: AGENT_VERSION,
    disks: disks.map((d) => ({ name: d.device || d.name, model: d.name || undefined, type: d.type || undefined, sizeBytes: d.size || undefined })),
    interfaces: (Array.isArray(interfaces) ? interfaces : [interfaces])
      .filter((i) => !i.internal)
      .map((i) => ({ name: i.iface, mac: i.mac || undefined, addresses: [i.ip4, i.ip6].filter((a) => a) })),
  };
}

/**
 * Fabricates a value that is valid against a JSON schema (as TypeBox writes
 * them: const, enum, anyOf, objects, arrays, bounded strings and numbers) and
 * believable, chosen by field name. Every value depends only on the seed, the
 * item index and the field, never on the route, so the same item fabricated
 * for a list and for its detail agrees in every field they share.
 */
import { createHmac } from 'node:crypto';

export type JsonSchema = Record<string, unknown>;

export interface Fabrication {
  /** Stable per decoy and collection. */
  seed: string;
  /** The item's index in its collection. */
  n: number;
  now: number;
}

const HOSTS = ['web-01', 'web-02', 'db-primary', 'db-replica', 'build-agent', 'vpn-gw', 'files-01', 'mail-relay', 'ci-runner-3', 'backup-01'];
const PEOPLE = ['jsmith', 'mlopez', 'akumar', 'ops-bot', 'tnguyen', 'rwagner'];
const PROCESSES = ['postgres', 'nginx', 'node', 'java', 'dockerd', 'sshd', 'systemd', 'redis-server'];
const AGENTS = ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36', 'curl/8.5.0'];

/** A deterministic number in [0, 1) for this seed, item and salt. */
export function unit(f: Fabrication, salt: string): number {
  return createHmac('sha256', f.seed).update(`${f.n}|${salt}`).digest().readUInt32BE(0) / 2 ** 32;
}

/** A UUIDv7-shaped id, stable for this seed, item and salt. */
export function uuidFor(f: Fabrication, salt: string): string {
  const hex = createHmac('sha256', f.seed).update(`${salt}|${f.n}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${hex.slice(13, 16)}-b${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

const pick = <T>(list: readonly T[], f: Fabrication, salt: string): T => list[Math.floor(unit(f, salt) * list.length)] as T;

/** Keys whose nullable value a healthy fleet leaves null: a last page, a machine nobody retired. */
const NULL_BY_DEFAULT = /^(next|decommissioned|revoked|locked|broken|error|before|serial$)/;

export function fabricate(schema: JsonSchema, key: string, f: Fabrication): unknown {
  if ('const' in schema) return schema['const'];
  const branches = (schema['anyOf'] ?? schema['oneOf']) as JsonSchema[] | undefined;
  if (Array.isArray(branches)) {
    const nonNull = branches.filter((b) => b['type'] !== 'null');
    const nullable = nonNull.length < branches.length;
    if (nonNull.length === 0 || (nullable && NULL_BY_DEFAULT.test(key))) return null;
    const literals = nonNull.filter((b) => 'const' in b);
    if (literals.length === nonNull.length) return fabricateEnum(literals.map((b) => b['const']), key, f);
    return fabricate(nonNull[0] as JsonSchema, key, f);
  }
  if (Array.isArray(schema['enum'])) return fabricateEnum(schema['enum'] as unknown[], key, f);
  switch (schema['type']) {
    case 'object':
      return fabricateObject(schema, f);
    case 'array':
      return fabricateArray(schema, key, f);
    case 'string':
      return fitString(fabricateString(key, f), schema, f);
    case 'integer':
      return clamp(Math.round(fabricateNumber(key, f, true)), schema);
    case 'number':
      return clamp(fabricateNumber(key, f, false), schema);
    case 'boolean':
      return key === 'success' || key === 'ok' || key === 'backedUp';
    case 'null':
      return null;
    default:
      // Free-form (an audit entry's before/after): a small object, as most entries carry.
      return key === 'after' ? { note: 'ok' } : null;
  }
}

function fabricateEnum(values: unknown[], key: string, f: Fabrication): unknown {
  for (const preferred of ['online', 'active', 'linux']) if (values.includes(preferred)) return key === 'status' && f.n === 2 && values.includes('warning') ? 'warning' : preferred;
  return values[0];
}

function fabricateObject(schema: JsonSchema, f: Fabrication): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const props = (schema['properties'] ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema['required'] ?? []) as string[]);
  for (const [name, child] of Object.entries(props)) {
    // Optional fields stay out, as on most real rows (a user nobody locked has no lockedUntil).
    if (!required.has(name) && !OPTIONAL_KEPT.has(name)) continue;
    out[name] = fabricate(child, name, f);
  }
  return out;
}

/** Optional fields the agent does send from a server (no battery, no sensors: a VM's view). */
const OPTIONAL_KEPT = new Set([
  'kernel',
  'cpuModel',
  'cpuCores',
  'memoryBytes',
  'agentVersion',
  'disks',
  'interfaces',
  'mac',
  'model',
  'type',
  'sizeBytes',
  'cpu',
  'memory',
  'swap',
  'network',
  'processes',
  'perCore',
  'load',
  'fs',
  'topCpu',
  'topMemory',
  'uptimeSeconds',
]);

function fabricateArray(schema: JsonSchema, key: string, f: Fabrication): unknown[] {
  const items = schema['items'] as JsonSchema | undefined;
  if (!items) return [];
  const min = Number(schema['minItems'] ?? 0);
  const max = Number(schema['maxItems'] ?? 8);
  const wanted = key === 'tags' ? Math.floor(unit(f, 'tags') * 3) : key === 'amr' ? 1 : key === 'points' ? 24 : 2 + Math.floor(unit(f, `len|${key}`) * 3);
  const count = Math.max(min, Math.min(max, wanted));
  return Array.from({ length: count }, (_, i) => fabricate(items, key === 'tags' ? `tag${i}` : singular(key), { ...f, seed: `${f.seed}/${key}`, n: f.n * 64 + i }));
}

const singular = (key: string) => (key === 'addresses' ? 'address' : key === 'disks' ? 'disk' : key === 'perCore' || key === 'load' ? 'percent' : key);

function fabricateString(key: string, f: Fabrication): string {
  const k = key.toLowerCase();
  if (key === 'id' || key.endsWith('Id') || key === 'sub') return uuidFor(f, key);
  if (k === 'hostname') return HOSTS[f.n % HOSTS.length] as string;
  if (k === 'username' || k === 'createdby') return PEOPLE[f.n % PEOPLE.length] as string;
  if (k === 'role') return f.n === 0 ? 'admin' : 'operator';
  if (k === 'status') return 'active';
  if (k === 'os') return 'linux';
  if (k === 'platform') return pick(['Ubuntu 22.04', 'Debian 12', 'Rocky Linux 9'], f, 'platform');
  if (k === 'arch') return 'x64';
  if (k === 'kernel') return '6.1.0-28-amd64';
  if (k === 'cpumodel') return 'Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz';
  if (k.endsWith('ip') || k === 'address') return `10.20.${(f.n % 200) + 1}.${10 + Math.floor(unit(f, 'ip') * 240)}`;
  if (k === 'mac') return `52:54:00:${Math.floor(unit(f, 'mac') * 256).toString(16).padStart(2, '0')}:3a:1c`;
  if (k === 'agentversion') return '0.1.0';
  if (k === 'useragent') return pick(AGENTS, f, 'ua');
  if (k === 'mount') return f.n % 2 === 0 ? '/' : '/var/lib';
  if (k === 'fs') return 'ext4';
  if (k === 'iface' || (k === 'name' && f.seed.endsWith('/interfaces'))) return f.n % 2 === 0 ? 'eth0' : 'eth1';
  if (k === 'name' && /\/(topCpu|topMemory)$/.test(f.seed)) return pick(PROCESSES, f, 'proc');
  if (k === 'name' && f.seed.endsWith('/disks')) return f.n % 2 === 0 ? 'sda' : 'nvme0n1';
  if (k === 'model') return 'SAMSUNG MZ7LH960';
  if (k === 'type') return 'ssd';
  if (k === 'action') return pick(['login_succeeded', 'machine_enrolled', 'agent_report', 'user_updated', 'token_refreshed'], f, 'action');
  if (k === 'actortype') return pick(['user', 'agent', 'system'], f, 'actorType');
  if (k === 'resourcetype') return pick(['user', 'machine', 'session'], f, 'resourceType');
  if (k === 'reason') return pick(['auth_failures', 'not_found'], f, 'reason');
  if (k === 'metric') return 'cpu';
  if (k === 'resolution') return 'raw';
  if (k === 'head' || k.endsWith('hash')) return createHmac('sha256', f.seed).update(`hash|${f.n}`).digest('hex');
  if (k === 'devicetype') return 'multiDevice';
  if (k.startsWith('tag')) return pick(['production', 'staging', 'eu-west', 'database', 'edge'], f, key);
  if (k === 'note') return pick(['rack 4 rollout', 'new laptops', 'staging hosts'], f, 'note');
  if (k === 'name') return `item-${f.n + 1}`;
  return '';
}

function fitString(value: string, schema: JsonSchema, f: Fabrication): string {
  if (schema['format'] === 'uuid' && !/^[0-9a-f-]{36}$/.test(value)) value = uuidFor(f, 'uuid');
  if (schema['format'] === 'date-time') value = new Date(f.now).toISOString();
  // Patterns come from our own response schemas, never from a request.
  // eslint-disable-next-line security/detect-non-literal-regexp
  if (typeof schema['pattern'] === 'string' && !new RegExp(schema['pattern']).test(value)) value = createHmac('sha256', f.seed).update(String(f.n)).digest('base64url');
  const min = Number(schema['minLength'] ?? 0);
  const max = Number(schema['maxLength'] ?? Infinity);
  if (value.length < min) value = value.padEnd(min, 'x');
  return value.slice(0, max);
}

function fabricateNumber(key: string, f: Fabrication, integer: boolean): number {
  const r = unit(f, key);
  if (key === 'expiresAt') return f.now - (f.now % 3_600_000) + Math.floor((1 + r * 20) * 86_400_000);
  if (/At$/.test(key) || key === 'ts' || key === 't' || key === 'from' || key === 'to') return timeFor(key, f);
  if (/seconds$/i.test(key)) return key === 'uptimeSeconds' ? 86_400 * (3 + Math.floor(r * 40)) : 60;
  if (/bytes$/i.test(key)) return 2 ** 30 * (4 + Math.floor(r * 60));
  if (key === 'cpuCores') return [2, 4, 8, 16][Math.floor(r * 4)] as number;
  if (key === 'pid') return 300 + Math.floor(r * 30_000);
  if (key === 'count' || key === 'maxUses' || key === 'uses' || key === 'kid' || key === 'seq') return 1 + Math.floor(r * 9);
  if (key === 'percent' || key === 'cpu' || key === 'memory' || key === 'disk' || key === 'swap' || key === 'mem' || key === 'avg' || key === 'max') {
    const v = 8 + r * 55;
    return integer ? Math.round(v) : Math.round(v * 10) / 10;
  }
  if (key === 'load1') return Math.round(r * 300) / 100;
  if (key === 'netRx' || key === 'netTx') return Math.round(2_000 + r * 400_000);
  return integer ? Math.floor(r * 10) : Math.round(r * 1000) / 10;
}

/** Recent times, older for later items and for events that happen earlier in a thing's life. */
function timeFor(key: string, f: Fabrication): number {
  const r = unit(f, key);
  // Past events are anchored to the hour or the week, so they hold still between two reads.
  const hour = f.now - (f.now % 3_600_000);
  const week = f.now - (f.now % (7 * 86_400_000));
  if (key === 'lastSeenAt' || key === 'collectedAt' || key === 'lastCollectedAt' || key === 't' || key === 'to') return f.now - Math.floor(5_000 + r * 25_000);
  if (key === 'lastUsedAt' || key === 'ts' || key === 'updatedAt' || key === 'blockedAt') return hour - Math.floor((f.n + 1) * 3_600_000 * (0.5 + r));
  if (key === 'from') return f.now - 3_600_000;
  // createdAt, enrolledAt: weeks to months back.
  return week - Math.floor((20 + r * 200) * 86_400_000);
}

function clamp(value: number, schema: JsonSchema): number {
  const min = typeof schema['minimum'] === 'number' ? schema['minimum'] : -Infinity;
  const max = typeof schema['maximum'] === 'number' ? schema['maximum'] : Infinity;
  return Math.min(max, Math.max(min, value));
}

/**
 * Honey (decoy) accounts (DESIGN.md §7). Any password for a configured decoy
 * name "works": the answer has the shape, cookies and cost of a real login,
 * but the session is a decoy. Its session id comes from a separate namespace
 * (a UUID whose last 48 bits are an HMAC tag of the rest), so the server
 * recognises it from the token alone, with no row and no marker a client
 * could read. A decoy sees only fabricated data and can change nothing.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Clock } from '../lib/clock.js';
import type { UserView } from './users/view.js';

const TAG_HEX = 12;

type JsonSchema = Record<string, unknown>;

export class HoneyAccounts {
  readonly #names: Map<string, string>;
  readonly #byFakeId = new Map<string, UserView>();

  constructor(
    names: readonly string[],
    private readonly key: Uint8Array,
    private readonly clock: Clock,
  ) {
    this.#names = new Map(names.map((n) => [n.toLowerCase(), n]));
    for (const name of this.#names.values()) {
      const view = this.#fakeUser(name);
      this.#byFakeId.set(view.id, view);
    }
  }

  isHoney(username: string): boolean {
    return this.#names.has(username.toLowerCase());
  }

  /** The stable fake user behind a decoy name. */
  userFor(username: string): UserView {
    const name = this.#names.get(username.toLowerCase()) ?? username;
    return this.#fakeUser(name);
  }

  userById(id: string): UserView | undefined {
    return this.#byFakeId.get(id);
  }

  /** A fresh session id in the decoy namespace, shaped like any UUIDv7. */
  newDecoySid(): string {
    const hex = randomBytes(16).toString('hex');
    // Version 7 and variant bits, as newId() gives.
    const head = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${hex.slice(13, 16)}-${((parseInt(hex[16] as string, 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-`;
    return `${head}${this.#tag(head)}`;
  }

  isDecoySid(sid: string): boolean {
    if (sid.length !== 36) return false;
    const base = sid.slice(0, 36 - TAG_HEX);
    return sid.slice(36 - TAG_HEX) === this.#tag(base);
  }

  /**
   * A plausible body for a GET a decoy makes: its own fake user for /api/me,
   * otherwise data fabricated to fit the route's response schema.
   */
  respond(url: string, schema: unknown, userId: string): unknown {
    const user = this.userById(userId);
    if (url === '/api/me' && user) return { user };
    if (!schema || typeof schema !== 'object') return undefined;
    return fabricate(schema as JsonSchema, '', { n: 0, now: this.clock.nowMs(), seed: userId });
  }

  #tag(base: string): string {
    return createHmac('sha256', this.key).update(`flotilla/decoy-sid|${base}`).digest('hex').slice(0, TAG_HEX);
  }

  #fakeUser(name: string): UserView {
    const digest = createHmac('sha256', this.key).update(`flotilla/decoy-user|${name}`).digest();
    const hex = digest.toString('hex');
    // A creation time some months back, stable per name.
    const createdAt = Date.UTC(2025, 0, 1) + (digest.readUInt32BE(0) % (300 * 86_400)) * 1000;
    return {
      id: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`,
      username: name,
      role: /admin/i.test(name) ? 'admin' : 'operator',
      status: 'active',
      passwordChangeRequired: false,
      createdAt,
      updatedAt: createdAt,
    };
  }
}

interface FabricationState {
  n: number;
  now: number;
  seed: string;
}

const HOSTS = ['web-01', 'web-02', 'db-primary', 'db-replica', 'build-agent', 'vpn-gw', 'files-01', 'mail-relay'];
const PEOPLE = ['jsmith', 'mlopez', 'akumar', 'ops-bot', 'tnguyen'];

function uuidFor(state: FabricationState, salt: string): string {
  const hex = createHmac('sha256', state.seed).update(`${salt}|${state.n}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${hex.slice(13, 16)}-b${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Walks a JSON schema and fills it with believable values chosen by field name. */
function fabricate(schema: JsonSchema, key: string, state: FabricationState): unknown {
  if ('const' in schema) return schema['const'];
  const branches = (schema['anyOf'] ?? schema['oneOf']) as JsonSchema[] | undefined;
  if (Array.isArray(branches)) {
    const nonNull = branches.filter((b) => b['type'] !== 'null');
    const nullable = nonNull.length < branches.length;
    // A list's last page, and a machine nobody retired, say null.
    if (nonNull.length === 0 || (nullable && (key === 'next' || /^(decommissioned|revoked|locked)/.test(key)))) return null;
    return fabricate(nonNull[0] as JsonSchema, key, state);
  }
  if (Array.isArray(schema['enum'])) {
    const values = schema['enum'] as unknown[];
    return values.includes('online') ? 'online' : values.includes('active') ? 'active' : values[0];
  }
  switch (schema['type']) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const props = (schema['properties'] ?? {}) as Record<string, JsonSchema>;
      for (const [name, child] of Object.entries(props)) out[name] = fabricate(child, name, state);
      return out;
    }
    case 'array': {
      if (key !== 'items' || !schema['items']) return [];
      const count = 3 + (state.seed.charCodeAt(0) % 4);
      return Array.from({ length: count }, (_, i) => fabricate(schema['items'] as JsonSchema, 'item', { ...state, n: i }));
    }
    case 'string':
      return fabricateString(key, schema, state);
    case 'integer':
      if (key.endsWith('At') || key === 'from' || key === 'to' || key === 't') return state.now - (state.n + 1) * 37_000;
      if (/seconds$/i.test(key)) return 10;
      return 1 + ((state.n * 7) % 5);
    case 'number':
      return Math.round((12 + ((state.n * 17) % 60) + state.n / 10) * 10) / 10;
    case 'boolean':
      return false;
    default:
      return null;
  }
}

function fabricateString(key: string, schema: JsonSchema, state: FabricationState): string {
  if (key === 'id' || key.endsWith('Id') || schema['format'] === 'uuid') return uuidFor(state, key);
  if (key === 'hostname') return HOSTS[state.n % HOSTS.length] as string;
  if (key === 'username') return PEOPLE[state.n % PEOPLE.length] as string;
  if (key === 'role') return state.n === 0 ? 'admin' : 'operator';
  if (key === 'status') return 'active';
  if (key === 'os') return 'linux';
  if (key === 'platform') return 'ubuntu';
  if (key === 'arch') return 'x64';
  if (key.toLowerCase().endsWith('ip')) return `10.20.${state.n + 1}.${(state.n * 13) % 250}`;
  if (key === 'agentVersion') return '0.1.0';
  if (key === 'name') return `item-${state.n + 1}`;
  return '';
}

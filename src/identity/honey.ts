/**
 * Honey (decoy) accounts. Any password for a configured decoy
 * name "works": the answer has the shape, cookies and cost of a real login,
 * but the session is a decoy. Its session id comes from a separate namespace
 * (a UUID whose last 48 bits are an HMAC tag of the rest), so the server
 * recognises it from the token alone, with no row and no marker a client
 * could read. A decoy sees only fabricated data and can change nothing.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Clock } from '../lib/clock.js';
import { DecoyReads } from './decoy/reads.js';
import { DecoyStreams, type DecoyStreamTiming } from './decoy/stream.js';
import type { UserView } from './users/view.js';

const TAG_HEX = 12;

export class HoneyAccounts {
  readonly #names: Map<string, string>;
  readonly #byFakeId = new Map<string, UserView>();
  /** What decoy sessions read: fabricated per route schema, stable per decoy. */
  readonly reads: DecoyReads;
  readonly streams: DecoyStreams;

  constructor(
    names: readonly string[],
    private readonly key: Uint8Array,
    private readonly clock: Clock,
    streamTiming?: DecoyStreamTiming,
  ) {
    this.reads = new DecoyReads(key);
    this.streams = new DecoyStreams(streamTiming);
    this.#names = new Map(names.map((n) => [n.toLowerCase(), n]));
    for (const name of this.#names.values()) {
      const view = this.#fakeUser(name);
      this.#byFakeId.set(view.id, view);
    }
  }

  nowMs(): number {
    return this.clock.nowMs();
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

  /** The decoy's live fleet stream (decoy/stream.ts), ending when `alive` says the session is over. */
  openStream(user: UserView, alive: () => Promise<boolean>): { readable: Readable; close(): void } {
    const world = () => ({ user, now: this.clock.nowMs() });
    return this.streams.open(
      {
        machines: () => this.reads.items('/api/fleet/machines', world()),
        summary: () => this.reads.summary(world()),
        alive,
      },
      () => this.clock.nowMs(),
    );
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

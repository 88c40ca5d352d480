/**
 * Password hashing: argon2id with a versioned pepper passed as
 * argon2's secret, so a stolen database alone cannot be cracked offline.
 */
import { randomBytes } from 'node:crypto';
import { hash as argon2Hash, parseOptions, verify as argon2Verify, type Algorithm, type Version } from '@node-rs/argon2';
import { Semaphore } from '../../lib/semaphore.js';
import { isLegacyAlgo, verifyLegacy, type LegacyAlgo } from './legacy.js';

export type PasswordAlgo = 'argon2id' | LegacyAlgo;

/** A password as stored on the user row. */
export interface StoredPassword {
  hash: string;
  algo: PasswordAlgo;
  /** Only the legacy sha256 format keeps its salt outside the hash. */
  salt: string | null;
  /** Pepper version of an argon2id hash; null for legacy hashes. */
  pepperVersion: number | null;
}

export interface VerifyResult {
  ok: boolean;
  /** The password was right but is stored in an outdated way: store `hash(password)` now. */
  needsRehash: boolean;
}

export interface PasswordHasherOptions {
  /** Pepper version -> base64url secret; the highest version hashes new passwords. */
  peppers: Record<string, string>;
  /** Argon2 computations allowed at once; each takes 64 MiB. */
  concurrency: number;
}

/** The current argon2id parameters; a hash made with others is rehashed at login. */
export const ARGON2_PARAMS = { memoryCost: 65536, timeCost: 3, parallelism: 4, outputLen: 32, saltLen: 16 } as const;

// The package declares these as ambient const enums, which verbatimModuleSyntax
// cannot read; the values are the ones its index.d.ts documents.
const ARGON2ID = 2 as Algorithm;
const VERSION_0X13 = 1 as Version;

const FAILED: VerifyResult = Object.freeze({ ok: false, needsRehash: false });
const PEPPER_VERSION = /^[1-9][0-9]{0,3}$/;
const BASE64URL = /^[A-Za-z0-9_-]{16,}={0,2}$/;

export class PasswordHasher {
  readonly #peppers: ReadonlyMap<number, Uint8Array>;
  readonly #currentVersion: number;
  readonly #gate: Semaphore;
  /** Verified against for unknown users, so they cost what known users cost. */
  readonly #dummy: Promise<string>;

  constructor(opts: PasswordHasherOptions) {
    this.#peppers = parsePeppers(opts.peppers);
    this.#currentVersion = Math.max(...this.#peppers.keys());
    this.#gate = new Semaphore(opts.concurrency);
    this.#dummy = this.#argon2Hash(randomBytes(32).toString('base64url'), this.#currentSecret());
    // Marks the promise handled; a failure still surfaces from ready() and verify().
    this.#dummy.catch(() => undefined);
  }

  /** Builds a hasher and waits for its dummy hash, so the first login is not slower. */
  static async create(opts: PasswordHasherOptions): Promise<PasswordHasher> {
    const hasher = new PasswordHasher(opts);
    await hasher.ready();
    return hasher;
  }

  async ready(): Promise<void> {
    await this.#dummy;
  }

  get currentPepperVersion(): number {
    return this.#currentVersion;
  }

  /** Argon2 computations running and queued, for metrics and tests. */
  argon2Load(): { active: number; waiting: number } {
    return { active: this.#gate.active, waiting: this.#gate.waiting };
  }

  async hash(password: string): Promise<StoredPassword> {
    const hash = await this.#argon2Hash(password, this.#currentSecret());
    return { hash, algo: 'argon2id', salt: null, pepperVersion: this.#currentVersion };
  }

  /**
   * Checks a password; `stored` null means the user does not exist. Every path
   * does one argon2id verify of the same cost, so timing does not tell an unknown
   * user, a wrong password or a legacy hash apart. Never throws for bad input.
   * Waiters with different `fairnessKey`s (the login uses the username) take
   * turns, so a flood aimed at one account cannot starve everyone else's login.
   */
  async verify(stored: StoredPassword | null, password: string, fairnessKey = ''): Promise<VerifyResult> {
    const dummy = await this.#dummy;
    if (stored?.algo === 'argon2id') {
      const secret = stored.pepperVersion === null ? undefined : this.#peppers.get(stored.pepperVersion);
      if (secret && stored.hash.startsWith('$argon2id$')) {
        const ok = await this.#argon2Verify(stored.hash, password, secret, fairnessKey);
        return ok ? { ok, needsRehash: this.#isOutdated(stored) } : FAILED;
      }
    } else if (stored && isLegacyAlgo(stored.algo)) {
      // In parallel with the dummy argon2 verify: the legacy check adds no time
      // unless it is itself slower (bcrypt can be).
      const [ok] = await Promise.all([
        verifyLegacy({ hash: stored.hash, algo: stored.algo, salt: stored.salt }, password),
        this.#argon2Verify(dummy, password, this.#currentSecret(), fairnessKey),
      ]);
      return ok ? { ok: true, needsRehash: true } : FAILED;
    }
    // Unknown user, unknown pepper version, unknown algorithm: same work, same answer.
    await this.#argon2Verify(dummy, password, this.#currentSecret(), fairnessKey);
    return FAILED;
  }

  #currentSecret(): Uint8Array {
    return this.#peppers.get(this.#currentVersion) as Uint8Array;
  }

  #isOutdated(stored: StoredPassword): boolean {
    if (stored.pepperVersion !== this.#currentVersion) return true;
    try {
      const p = parseOptions(stored.hash);
      return (
        p.algorithm !== ARGON2ID ||
        p.version !== VERSION_0X13 ||
        p.memoryCost !== ARGON2_PARAMS.memoryCost ||
        p.timeCost !== ARGON2_PARAMS.timeCost ||
        p.parallelism !== ARGON2_PARAMS.parallelism ||
        p.outputLen !== ARGON2_PARAMS.outputLen ||
        p.saltLen !== ARGON2_PARAMS.saltLen
      );
    } catch {
      return true;
    }
  }

  // All argon2 work goes through the gate so a login flood queues instead of
  // allocating 64 MiB per request.
  #argon2Hash(password: string, secret: Uint8Array): Promise<string> {
    const salt = randomBytes(ARGON2_PARAMS.saltLen);
    return this.#gate.run(async () => {
      try {
        return await argon2Hash(password, {
          algorithm: ARGON2ID,
          version: VERSION_0X13,
          memoryCost: ARGON2_PARAMS.memoryCost,
          timeCost: ARGON2_PARAMS.timeCost,
          parallelism: ARGON2_PARAMS.parallelism,
          outputLen: ARGON2_PARAMS.outputLen,
          salt,
          secret,
        });
      } catch (err) {
        throw new Error('argon2 hashing failed', { cause: err });
      }
    });
  }

  #argon2Verify(phc: string, password: string, secret: Uint8Array, fairnessKey: string): Promise<boolean> {
    return this.#gate.run(async () => {
      try {
        return await argon2Verify(phc, password, { secret });
      } catch {
        return false; // a malformed stored hash fails like a wrong password
      }
    }, fairnessKey);
  }
}

/** Errors name the version at most, never the secret. */
function parsePeppers(peppers: Record<string, string>): Map<number, Uint8Array> {
  const parsed = new Map<number, Uint8Array>();
  for (const [version, secret] of Object.entries(peppers)) {
    if (!PEPPER_VERSION.test(version)) throw new Error('pepper versions must be integers from 1 to 9999');
    if (typeof secret !== 'string' || !BASE64URL.test(secret)) {
      throw new Error(`pepper version ${version} must be a base64url secret of at least 16 characters`);
    }
    parsed.set(Number(version), Buffer.from(secret, 'base64url'));
  }
  if (parsed.size === 0) throw new Error('at least one pepper version is required');
  return parsed;
}

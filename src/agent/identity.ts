import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { fromBase64url, toBase64url } from '../protocol/base64url.js';
import { ensurePrivateDir, writePrivateFile } from './files.js';
import type { ServerTrust } from './trust.js';

export const IDENTITY_FILE = 'agent.json';

const TrustSchema = Type.Union([
  Type.Object({ kind: Type.Literal('system') }),
  Type.Object({ kind: Type.Literal('ca'), caPem: Type.String({ minLength: 1, maxLength: 1_000_000 }) }),
  Type.Object({ kind: Type.Literal('pin'), fingerprint: Type.String({ pattern: '^sha256:[0-9a-f]{64}$' }) }),
]);

const IdentitySchema = Type.Object({
  format: Type.Literal(1),
  serverUrl: Type.String({ pattern: '^https://', maxLength: 2048 }),
  agentId: Type.String({ minLength: 1, maxLength: 64 }),
  apiKey: Type.String({ pattern: '^fla_', maxLength: 256 }),
  kid: Type.Integer({ minimum: 1 }),
  sealingKey: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
  commandPublicKey: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
  trust: TrustSchema,
  intervalSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
  /** The last report `seq` handed out; the next envelope uses a larger one, across restarts too. */
  seq: Type.Integer({ minimum: 0 }),
  /** The same for command results, which have their own counter (docs/api.md). */
  resultSeq: Type.Integer({ minimum: 0 }),
  enrolledAt: Type.Integer({ minimum: 0 }),
});

/** Everything the agent keeps between runs; the file holding it is 0600. */
export type AgentIdentity = Static<typeof IdentitySchema> & { trust: ServerTrust };

export class IdentityError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IdentityError';
  }
}

/** Where the identity lives: a file for a real agent, memory for simulated ones. */
export interface IdentityStore {
  read(): Promise<AgentIdentity>;
  write(identity: AgentIdentity): Promise<void>;
}

export class FileIdentityStore implements IdentityStore {
  readonly file: string;
  constructor(readonly stateDir: string) {
    this.file = join(stateDir, IDENTITY_FILE);
  }

  async exists(): Promise<boolean> {
    return stat(this.file).then(
      () => true,
      () => false,
    );
  }

  async read(): Promise<AgentIdentity> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
      const hint = code === 'ENOENT' ? '; run `flotilla agent enroll` first' : '';
      throw new IdentityError(`cannot read agent identity ${this.file} (${code})${hint}`, { cause: err });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      // The parser's message may quote the file, which holds secrets.
      throw new IdentityError(`agent identity ${this.file} is not valid JSON`);
    }
    if (!Value.Check(IdentitySchema, parsed)) {
      const first = Value.Errors(IdentitySchema, parsed)[0];
      throw new IdentityError(`agent identity ${this.file} is invalid${first ? ` at ${first.instancePath || '/'}` : ''}`);
    }
    return parsed as AgentIdentity;
  }

  async write(identity: AgentIdentity): Promise<void> {
    await ensurePrivateDir(this.stateDir);
    await writePrivateFile(this.file, `${JSON.stringify(identity, null, 2)}\n`);
  }
}

/** Starts empty unless given an identity; enrollment fills it. */
export class MemoryIdentityStore implements IdentityStore {
  constructor(private identity: AgentIdentity | null = null) {}
  async read(): Promise<AgentIdentity> {
    if (!this.identity) throw new IdentityError('no agent identity yet');
    return structuredClone(this.identity);
  }
  async write(identity: AgentIdentity): Promise<void> {
    this.identity = structuredClone(identity);
  }
}

/**
 * The live identity of a running agent. Every change is persisted before it is
 * used, so a `seq` is never handed out twice, even across a crash.
 */
export class AgentState {
  #identity: AgentIdentity;
  #key: Uint8Array;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(
    identity: AgentIdentity,
    private readonly store: IdentityStore,
  ) {
    this.#identity = identity;
    this.#key = decodeKey(identity.sealingKey);
  }

  static async open(store: IdentityStore): Promise<AgentState> {
    return new AgentState(await store.read(), store);
  }

  /** Writes a fresh identity (enrollment) and returns its live state. */
  static async create(store: IdentityStore, identity: AgentIdentity): Promise<AgentState> {
    if (!Value.Check(IdentitySchema, identity)) throw new IdentityError('refusing to store an invalid agent identity');
    await store.write(identity);
    return new AgentState(structuredClone(identity), store);
  }

  get identity(): Readonly<AgentIdentity> {
    return this.#identity;
  }

  /** The current version's 32-byte sealing key. */
  get sealingKey(): Uint8Array {
    return this.#key;
  }

  /** The next report `seq`, persisted before it is returned. */
  reserveSeq(): Promise<number> {
    return this.#change((id) => ({ ...id, seq: id.seq + 1 })).then((id) => id.seq);
  }

  /** The next command-result `seq`, persisted before it is returned. */
  reserveResultSeq(): Promise<number> {
    return this.#change((id) => ({ ...id, resultSeq: id.resultSeq + 1 })).then((id) => id.resultSeq);
  }

  /** Stores a rotated sealing key (already opened with the old one). */
  async applyRekey(kid: number, key: Uint8Array): Promise<void> {
    if (!Number.isInteger(kid) || kid < 1 || key.length !== 32) throw new IdentityError('refusing a malformed rekey');
    await this.#change((id) => ({ ...id, kid, sealingKey: toBase64url(key) }));
    this.#key = new Uint8Array(key);
  }

  /** Pins a new command-signing key (a verified rotate_signing_key); from then on only it is accepted. */
  async setCommandPublicKey(publicKey: string): Promise<void> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(publicKey)) throw new IdentityError('refusing a malformed command public key');
    await this.#change((id) => ({ ...id, commandPublicKey: publicKey }));
  }

  async setInterval(seconds: number): Promise<void> {
    if (seconds === this.#identity.intervalSeconds) return;
    await this.#change((id) => ({ ...id, intervalSeconds: seconds }));
  }

  /** Changes run one at a time, each written before the next starts. */
  #change(edit: (identity: AgentIdentity) => AgentIdentity): Promise<AgentIdentity> {
    const run = this.#queue.then(async () => {
      const next = edit(this.#identity);
      await this.store.write(next);
      this.#identity = next;
      return next;
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

function decodeKey(text: string): Uint8Array {
  const key = fromBase64url(text);
  if (!key || key.length !== 32) throw new IdentityError('the stored sealing key is not 32 bytes of base64url');
  return key;
}

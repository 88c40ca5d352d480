import type { Kv } from '../../store/kv/kv.js';
import type { SignedMark } from './checkpoints.js';
import { parseHead, type HeadStore, type StoredHead } from './head.js';
import type { AuditKeys } from './keys.js';

const HEAD_KEY = 'audit:head';

/**
 * The head in the shared Kv (Redis) of a cluster: every node advances the
 * same one, by compare-and-advance on its seq, so a node that lags behind
 * another never moves it back. The key has no TTL: Redis evicts it only
 * under an allkeys-* maxmemory policy, and verification then reports it missing.
 */
export class KvHeadStore implements HeadStore {
  readonly location = `the shared kv key ${HEAD_KEY}`;

  constructor(
    private readonly kv: Kv,
    private readonly keys: AuditKeys,
  ) {}

  async read(): Promise<StoredHead> {
    const stored = await this.kv.getVersioned(HEAD_KEY);
    if (!stored) return { state: 'missing' };
    const head = parseHead(this.keys, stored.value);
    // The version the compare runs on must be the signed seq, or a forged version could hold the head back.
    return head.state === 'valid' && head.mark.seq !== stored.version ? { state: 'invalid' } : head;
  }

  advance(mark: SignedMark): Promise<boolean> {
    return this.kv.setIfNewer(HEAD_KEY, mark.seq, JSON.stringify(mark));
  }
}

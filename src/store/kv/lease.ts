import { randomBytes } from 'node:crypto';
import type { Kv } from './kv.js';

/**
 * A named lease in the shared KV: whoever holds it runs a background job,
 * every other process (or node) skips that round. One lock-run-release
 * helper for every job. `hold: true` keeps the lease between runs, renewing
 * it at each one, so one node stays the job's runner while it lives (a
 * periodic job); otherwise it is released after each run.
 */
export class JobLease {
  readonly #owner = randomBytes(12).toString('base64url');

  constructor(
    private readonly kv: Kv,
    private readonly name: string,
    private readonly ttlMs: number,
  ) {}

  /** Runs `work` if the lease is (or stays) ours; answers whether it ran. */
  async run(work: () => Promise<void>, opts: { hold?: boolean } = {}): Promise<boolean> {
    if (!(await this.kv.acquireLock(this.name, this.#owner, this.ttlMs))) return false;
    try {
      await work();
    } finally {
      if (!opts.hold) await this.release();
    }
    return true;
  }

  /** Lets go at once (at shutdown) rather than when the TTL runs out; never throws. */
  async release(): Promise<void> {
    await this.kv.releaseLock(this.name, this.#owner).catch(() => false);
  }
}

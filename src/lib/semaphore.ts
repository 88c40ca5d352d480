/**
 * Bounds how many async tasks run at once; the rest wait in FIFO order.
 * Used to cap memory-hungry work (argon2 takes 64 MiB per computation).
 */
export class Semaphore {
  #active = 0;
  readonly #queue: Array<() => void> = [];
  readonly #limit: number;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('semaphore limit must be a positive integer');
    this.#limit = limit;
  }

  /** Tasks running now. */
  get active(): number {
    return this.#active;
  }

  /** Tasks queued for a slot. */
  get waiting(): number {
    return this.#queue.length;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.#acquire();
    try {
      return await fn();
    } finally {
      this.#release();
    }
  }

  #acquire(): Promise<void> {
    if (this.#active < this.#limit) {
      this.#active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#queue.push(resolve));
  }

  #release(): void {
    // Hand the slot straight to the oldest waiter (active stays the same), so a
    // newcomer can never slip in ahead of the queue.
    const next = this.#queue.shift();
    if (next) next();
    else this.#active--;
  }
}

/**
 * Bounds how many async tasks run at once; the rest wait. Waiters are grouped
 * by a key and the groups take turns (round robin), FIFO within a group, so one
 * busy key cannot starve the others. Used to cap memory-hungry work (argon2
 * takes 64 MiB per computation) without letting one flood hold the line.
 */
export class Semaphore {
  #active = 0;
  #waiting = 0;
  /** Queues per key, in the order the keys will next be served. */
  readonly #queues = new Map<string, Array<() => void>>();
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
    return this.#waiting;
  }

  async run<T>(fn: () => Promise<T>, key = ''): Promise<T> {
    await this.#acquire(key);
    try {
      return await fn();
    } finally {
      this.#release();
    }
  }

  #acquire(key: string): Promise<void> {
    if (this.#active < this.#limit) {
      this.#active++;
      return Promise.resolve();
    }
    this.#waiting++;
    return new Promise((resolve) => {
      const queue = this.#queues.get(key);
      if (queue) queue.push(resolve);
      else this.#queues.set(key, [resolve]);
    });
  }

  #release(): void {
    // Hand the slot straight to a waiter (active stays the same), so a newcomer
    // can never slip in ahead of the queue. The served key moves to the back.
    const first = this.#queues.entries().next();
    if (first.done) {
      this.#active--;
      return;
    }
    const [key, queue] = first.value;
    const next = queue.shift() as () => void;
    this.#queues.delete(key);
    if (queue.length > 0) this.#queues.set(key, queue);
    this.#waiting--;
    next();
  }
}

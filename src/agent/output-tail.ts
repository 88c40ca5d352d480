import { createHash, type Hash } from 'node:crypto';

/**
 * Keeps the last `limit` bytes of a stream in a ring buffer, counts all bytes
 * and hashes all of them as they pass, so memory stays bounded however much a
 * command writes.
 */
export class OutputTail {
  readonly #ring: Buffer;
  #start = 0;
  #length = 0;
  #total = 0;
  readonly #hash: Hash = createHash('sha256');

  constructor(readonly limit: number) {
    this.#ring = Buffer.alloc(limit);
  }

  write(chunk: Buffer): void {
    this.#total += chunk.length;
    this.#hash.update(chunk);
    const tail = chunk.length > this.limit ? chunk.subarray(chunk.length - this.limit) : chunk;
    for (let offset = 0; offset < tail.length; ) {
      const end = (this.#start + this.#length) % this.limit;
      const room = this.#length < this.limit ? Math.min(this.limit - this.#length, this.limit - end) : this.limit - end;
      const n = Math.min(room, tail.length - offset);
      tail.copy(this.#ring, end, offset, offset + n);
      offset += n;
      const overflow = Math.max(0, this.#length + n - this.limit);
      this.#length = Math.min(this.limit, this.#length + n);
      this.#start = (this.#start + overflow) % this.limit;
    }
  }

  /** Call once, after the last write. */
  finish(): { tail: Buffer; totalBytes: number; sha256: string } {
    const first = this.#ring.subarray(this.#start, Math.min(this.limit, this.#start + this.#length));
    const wrapped = this.#ring.subarray(0, Math.max(0, this.#start + this.#length - this.limit));
    return { tail: Buffer.concat([first, wrapped]), totalBytes: this.#total, sha256: this.#hash.digest('hex') };
  }
}

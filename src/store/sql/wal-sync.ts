import { open, type FileHandle } from 'node:fs/promises';

/**
 * Makes SQLite commits durable without stalling the event loop. The
 * connection runs with `synchronous = NORMAL`: a commit writes its WAL frames
 * but does not fsync them, so it survives a crash of the process but not of
 * the machine. A caller that must not answer before the data is on disk
 * (report ingest) awaits `flush()` after its commit; the fdatasync runs on
 * the libuv thread pool, and callers that arrive while one runs share the
 * next one. Checkpoints sync the database file themselves (checkpointer.ts).
 */
export class WalSync {
  readonly #walFile: string;
  #handle: Promise<FileHandle> | null = null;
  #running: Promise<void> | null = null;
  #next: Promise<void> | null = null;

  constructor(databaseFile: string) {
    this.#walFile = `${databaseFile}-wal`;
  }

  /** Resolves once every commit made before the call is on disk. */
  flush(): Promise<void> {
    if (!this.#running) {
      this.#running = this.#sync().finally(() => (this.#running = null));
      return this.#running;
    }
    // The sync under way may have started before the caller's commit: wait for the one after it.
    const after = (): Promise<void> => {
      this.#next = null;
      return this.flush();
    };
    this.#next ??= this.#running.then(after, after);
    return this.#next;
  }

  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = null;
    await Promise.allSettled([this.#running, this.#next]);
    if (handle) await (await handle).close();
  }

  async #sync(): Promise<void> {
    // The WAL exists from the first commit on and keeps its inode while the server's connection is open.
    this.#handle ??= open(this.#walFile, 'r+').catch((err: unknown) => {
      this.#handle = null;
      throw err;
    });
    await (await this.#handle).datasync();
  }
}

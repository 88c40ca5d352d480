import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

// Plain CommonJS run with `eval`, like the audit HMAC worker: it runs the same
// under tsx, vitest and the built server. The driver's path comes from the
// main thread, so it resolves whatever the working directory.
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
const run = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message) });
  }
};
const timer = setInterval(run, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

const driver = createRequire(import.meta.url).resolve('better-sqlite3');

/**
 * Moves a SQLite WAL into the database file from a thread of its own. A
 * checkpoint syncs both files to disk, and better-sqlite3 is synchronous: run
 * from the server's connection (SQLite's autocheckpoint) it would stall every
 * request for the length of an fsync. PASSIVE never blocks the writer; it
 * copies what no reader still needs and leaves the rest for the next round.
 */
export class WalCheckpointer {
  readonly #worker: Worker;
  readonly #exited: Promise<void>;

  constructor(file: string, opts: { intervalMs: number; onError?: (err: Error) => void }) {
    this.#worker = new Worker(SOURCE, { eval: true, workerData: { driver, file, intervalMs: opts.intervalMs }, execArgv: [] });
    this.#worker.on('message', (message: { error?: string }) => opts.onError?.(new Error(`wal checkpoint failed: ${message.error ?? 'unknown error'}`)));
    this.#worker.on('error', (err) => opts.onError?.(err));
    this.#exited = new Promise((resolve) => this.#worker.once('exit', () => resolve()));
    // Never what keeps the process alive.
    this.#worker.unref();
  }

  /** Stops the thread and closes its connection. */
  async close(): Promise<void> {
    this.#worker.postMessage('close');
    const timeout = setTimeout(() => void this.#worker.terminate(), 5000);
    await this.#exited;
    clearTimeout(timeout);
  }
}

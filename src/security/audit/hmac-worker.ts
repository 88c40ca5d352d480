import { Worker } from 'node:worker_threads';

// Plain CommonJS run with `eval`: no loader and no build output to find, so it
// runs the same under tsx, vitest and the built server. The loop is
// leadingMatches in hashed-batches.ts; tests verify chains through both.
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHmac, createSecretKey } = require('node:crypto');
const key = createSecretKey(workerData);
parentPort.on('message', ({ texts, hashes }) => {
  let i = 0;
  while (i < texts.length && texts[i] !== null && createHmac('sha256', key).update(texts[i], 'utf8').digest('hex') === hashes[i]) i++;
  parentPort.postMessage(i);
});
`;

interface Waiting {
  resolve(matching: number): void;
  reject(err: Error): void;
}

/** HMAC-SHA256 checks on a worker thread, answered in the order they were asked. */
export class HmacWorker {
  private readonly worker: Worker;
  private readonly waiting: Waiting[] = [];

  constructor(key: Uint8Array) {
    this.worker = new Worker(SOURCE, { eval: true, workerData: key, execArgv: [] });
    this.worker.on('message', (matching: number) => this.waiting.shift()?.resolve(matching));
    this.worker.on('error', (err) => this.failAll(err));
    this.worker.on('exit', () => this.failAll(new Error('audit hmac worker exited')));
  }

  /** How many texts, from the first, are the HMAC of their expected hash (a null text stops the count). */
  leadingMatches(texts: readonly (string | null)[], hashes: readonly string[]): Promise<number> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.worker.postMessage({ texts, hashes });
    });
  }

  /** Stops the thread; answers still due are dropped (their caller has stopped listening). */
  async close(): Promise<void> {
    this.waiting.length = 0;
    await this.worker.terminate();
  }

  private failAll(err: Error): void {
    for (const w of this.waiting.splice(0)) w.reject(err);
  }
}

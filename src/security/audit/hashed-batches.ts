import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { readable, type RawChainRow } from './chain-rows.js';
import { hashInput } from './entry.js';
import { HmacWorker } from './hmac-worker.js';

/** A batch of stored entries and how many of them, from the first, are readable and hash to their stored hash. */
export interface HashedBatch {
  rows: RawChainRow[];
  matching: number;
}

function leadingMatches(key: KeyObject, texts: readonly (string | null)[], hashes: readonly string[]): number {
  let i = 0;
  while (i < texts.length && texts[i] !== null && createHmac('sha256', key).update(texts[i] as string, 'utf8').digest('hex') === hashes[i]) i++;
  return i;
}

/**
 * Each batch with its HMAC checks done. The first batch is hashed here; from
 * the second on (a chain long enough to pay for a thread) a worker hashes
 * each batch while the next one is read, so a verification uses two cores.
 * At most two batches are held: the one handed out and the one in flight.
 */
export async function* hashedBatches(batches: AsyncIterable<RawChainRow[]>, hmacKey: Uint8Array): AsyncGenerator<HashedBatch> {
  const key = createSecretKey(hmacKey);
  let worker: HmacWorker | null = null;
  let ahead: { rows: RawChainRow[]; matching: Promise<number> } | null = null;
  try {
    for await (const rows of batches) {
      // Unreadable rows get no text: verification stops at them before it needs their hash.
      const texts = rows.map((row) => (readable(row) ? hashInput(row) : null));
      const hashes = rows.map((row) => String(row.hash));
      let matching: Promise<number>;
      if (ahead === null && worker === null) {
        matching = Promise.resolve(leadingMatches(key, texts, hashes));
      } else {
        worker ??= new HmacWorker(hmacKey);
        matching = worker.leadingMatches(texts, hashes);
        matching.catch(() => undefined); // awaited below; until then a failure must not count as unhandled
      }
      if (ahead) yield { rows: ahead.rows, matching: await ahead.matching };
      ahead = { rows, matching };
    }
    if (ahead) yield { rows: ahead.rows, matching: await ahead.matching };
  } finally {
    await worker?.close();
  }
}

import { createHash } from 'node:crypto';
import { MAX_RESULT_OUTPUT_BYTES, type FinalResult } from '../protocol/command-result.js';
import { MAX_RESULT_PLAINTEXT_BYTES } from '../protocol/sealing.js';
import type { ProcessOutcome } from './run-process.js';

/** A final result from a process outcome; `tail` holds at most the last 1 MiB of its output. */
export function finalResult(outcome: ProcessOutcome): FinalResult {
  const result: FinalResult = {
    status: outcome.status,
    exitCode: outcome.exitCode,
    signal: outcome.signal,
    startedAt: outcome.startedAt,
    finishedAt: outcome.finishedAt,
    output: outcome.tail.toString('utf8'),
    outputBytes: outcome.outputBytes,
    outputSha256: outcome.outputSha256,
    truncated: outcome.tail.length < outcome.outputBytes,
  };
  return fitted(result, outcome.tail);
}

/** The result of a built-in action, whose output is a short text the agent wrote itself. */
export function builtinResult(status: 'succeeded' | 'failed', output: string, startedAt: number, finishedAt: number): FinalResult {
  const bytes = Buffer.from(output, 'utf8');
  const tail = bytes.length > MAX_RESULT_OUTPUT_BYTES ? bytes.subarray(bytes.length - MAX_RESULT_OUTPUT_BYTES) : bytes;
  return finalResult({
    status,
    exitCode: status === 'succeeded' ? 0 : null,
    signal: null,
    startedAt,
    finishedAt,
    tail,
    outputBytes: bytes.length,
    outputSha256: createHash('sha256').update(bytes).digest('hex'),
  });
}

/**
 * JSON escaping can grow output up to six-fold (control bytes become \u00XX),
 * so the sealed plaintext may not fit its limit; then keep a shorter tail.
 */
function fitted(result: FinalResult, tail: Buffer): FinalResult {
  let size = Buffer.byteLength(JSON.stringify(result), 'utf8');
  let kept = tail;
  while (size > MAX_RESULT_PLAINTEXT_BYTES && kept.length > 0) {
    const cut = Math.max(1, Math.ceil((kept.length * (size - MAX_RESULT_PLAINTEXT_BYTES)) / size) + 64);
    kept = kept.subarray(Math.min(kept.length, cut));
    result = { ...result, output: kept.toString('utf8'), truncated: true };
    size = Buffer.byteLength(JSON.stringify(result), 'utf8');
  }
  return result;
}

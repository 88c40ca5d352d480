import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../lib/clock.js';
import { writePrivateFile } from './files.js';

export const SEEN_FILE = 'commands-seen.json';
/** More unexpired ids than this means something is flooding the agent; it refuses new commands ('busy'). */
export const MAX_SEEN = 10_000;

export class SeenCommandsError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SeenCommandsError';
  }
}

/**
 * The ids of accepted commands, each until it expires, kept on disk so that a
 * restart cannot reopen a replay. An id is written (atomically) before its
 * command runs.
 */
export class SeenCommands {
  #ids: Map<string, number>;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly file: string,
    ids: Map<string, number>,
    private readonly clock: Clock,
  ) {
    this.#ids = ids;
  }

  /** A missing file is an empty memory; an unreadable one stops the agent, since forgetting would allow replays. */
  static async open(stateDir: string, clock: Clock): Promise<SeenCommands> {
    const file = join(stateDir, SEEN_FILE);
    let text: string | null;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new SeenCommandsError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
      text = null;
    }
    const ids = new Map<string, number>();
    if (text !== null) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new SeenCommandsError(`${file} is not valid JSON; it lists the commands already run, so the agent will not start without it`);
      }
      const entries = (parsed as { ids?: unknown })?.ids;
      if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) throw new SeenCommandsError(`${file} is malformed`);
      for (const [id, expiresAt] of Object.entries(entries)) {
        if (!Number.isSafeInteger(expiresAt)) throw new SeenCommandsError(`${file} is malformed`);
        ids.set(id, expiresAt as number);
      }
    }
    return new SeenCommands(file, ids, clock);
  }

  has(id: string): boolean {
    const expiresAt = this.#ids.get(id);
    return expiresAt !== undefined && expiresAt > this.clock.nowMs();
  }

  /** Records `id`; false (nothing stored) when it is already there or the memory is full. */
  remember(id: string, expiresAt: number): Promise<boolean> {
    const run = this.#queue.then(async () => {
      const now = this.clock.nowMs();
      const next = new Map([...this.#ids].filter(([, at]) => at > now));
      if (next.has(id) || next.size >= MAX_SEEN) return false;
      next.set(id, expiresAt);
      await writePrivateFile(this.file, `${JSON.stringify({ format: 1, ids: Object.fromEntries(next) })}\n`);
      this.#ids = next;
      return true;
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

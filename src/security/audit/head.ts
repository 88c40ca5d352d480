import { markValid, type SignedMark } from './checkpoints.js';
import type { AuditKeys } from './keys.js';

/** A stored head: none, one that is not a validly signed head mark (tampered), or a good one. */
export type StoredHead = { state: 'missing' } | { state: 'invalid' } | { state: 'valid'; mark: SignedMark };

/**
 * Where the signed chain head lives: outside the database it protects, so
 * whoever deletes the newest entries there cannot also move the head back
 * (it is signed with the checkpoint key, which the database never sees).
 */
export interface HeadStore {
  /** Where the head is kept, for messages: a path or a key name, never a URL. */
  readonly location: string;
  read(): Promise<StoredHead>;
  /** Stores the head unless the stored one is at its seq or further; true when stored. */
  advance(mark: SignedMark): Promise<boolean>;
}

/** The head a stored text holds; null text is no head. */
export function parseHead(keys: AuditKeys, text: string | null): StoredHead {
  if (text === null) return { state: 'missing' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { state: 'invalid' };
  }
  return markValid(keys, parsed) && parsed.kind === 'head' ? { state: 'valid', mark: parsed } : { state: 'invalid' };
}

import { fleetError } from './errors.js';

/** Who holds a live event stream: the session and access token it was opened with. */
export interface StreamOwner {
  userId: string;
  sessionId: string;
  /** The access token's id (`jti`); revoking that token ends the stream. */
  tokenId: string;
  /** When that access token expires (UTC ms); the stream ends then, and the client reconnects with a fresh one. */
  expiresAt: number;
  admin: boolean;
}

export interface StreamLimits {
  perSession: number;
  perUser: number;
  /** Streams of non-admins on this node; admins are not counted, so viewers can never lock them out. */
  total: number;
}

const bump = (counts: Map<string, number>, key: string, by: number): void => {
  const next = (counts.get(key) ?? 0) + by;
  if (next > 0) counts.set(key, next);
  else counts.delete(key);
};

/**
 * The open streams of this node with their owners, and the caps on them.
 * Counting is O(1) per open and close; a cap is checked before the stream exists.
 */
export class StreamRegistry<S> {
  private readonly owners = new Map<S, StreamOwner>();
  private readonly bySession = new Map<string, number>();
  private readonly byUser = new Map<string, number>();
  private nonAdmin = 0;

  constructor(private readonly limits: StreamLimits) {}

  get size(): number {
    return this.owners.size;
  }

  /** Throws the cap's error when the owner may not open another stream. */
  private admit(owner: StreamOwner): void {
    if ((this.bySession.get(owner.sessionId) ?? 0) >= this.limits.perSession) throw fleetError('session_stream_limit');
    if ((this.byUser.get(owner.userId) ?? 0) >= this.limits.perUser) throw fleetError('user_stream_limit');
    if (!owner.admin && this.nonAdmin >= this.limits.total) throw fleetError('too_many_streams');
  }

  add(stream: S, owner: StreamOwner): void {
    this.admit(owner);
    this.owners.set(stream, owner);
    bump(this.bySession, owner.sessionId, 1);
    bump(this.byUser, owner.userId, 1);
    if (!owner.admin) this.nonAdmin += 1;
  }

  /** True when the stream was registered (so each is uncounted once). */
  remove(stream: S): boolean {
    const owner = this.owners.get(stream);
    if (!owner) return false;
    this.owners.delete(stream);
    bump(this.bySession, owner.sessionId, -1);
    bump(this.byUser, owner.userId, -1);
    if (!owner.admin) this.nonAdmin -= 1;
    return true;
  }

  has(stream: S): boolean {
    return this.owners.has(stream);
  }

  entries(): Array<[S, StreamOwner]> {
    return [...this.owners];
  }

  streams(): IterableIterator<S> {
    return this.owners.keys();
  }
}

/**
 * The one channel through which identity reports what happened. The audit
 * chain, metrics, security log and incident rules subscribe here; identity
 * never calls them directly.
 */
export type IdentityEventType =
  | 'login_succeeded'
  | 'login_failed'
  | 'logout'
  | 'token_refreshed'
  | 'refresh_token_reused'
  | 'session_revoked'
  | 'password_changed'
  | 'password_reset'
  | 'password_rehashed'
  | 'user_created'
  | 'user_updated'
  | 'user_deleted';

export interface IdentityEvent {
  readonly type: IdentityEventType;
  readonly at: number;
  /** Who acted: a user id, or null for anonymous and system actions. */
  readonly actorId: string | null;
  readonly actorIp: string | null;
  /** The user the event is about, when there is one. */
  readonly userId?: string | null;
  /** The username as presented (may be unknown); never a password. */
  readonly username?: string | null;
  readonly reason?: string;
  readonly detail?: Readonly<Record<string, string | number | boolean | null>>;
}

export interface EventSink {
  emit(event: IdentityEvent): void;
}

/** Fans events out to every subscriber; one failing subscriber never blocks the others. */
export class EventBus implements EventSink {
  private readonly subscribers: Array<(event: IdentityEvent) => void> = [];

  subscribe(handler: (event: IdentityEvent) => void): () => void {
    this.subscribers.push(handler);
    return () => {
      const i = this.subscribers.indexOf(handler);
      if (i >= 0) this.subscribers.splice(i, 1);
    };
  }

  emit(event: IdentityEvent): void {
    for (const handler of this.subscribers) {
      try {
        handler(event);
      } catch {
        // A broken subscriber must not break a login; subscribers log their own failures.
      }
    }
  }
}

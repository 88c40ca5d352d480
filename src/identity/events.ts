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
  | 'user_deleted'
  /** A password was right and a second factor is now asked for (detail.methods). */
  | 'login_mfa_required'
  /** A session proved its user again for a sensitive change (detail.method: password, totp, backup, passkey). */
  | 'reauthenticated'
  /** Too many failures: password logins refused until detail.lockedUntil. */
  | 'account_locked'
  /** More failures in an hour than allowed: only an admin can reactivate the account. */
  | 'account_suspended'
  /** A successful login from an IP prefix the user had not used (detail.prefix, detail.mfa). */
  | 'new_location'
  /** detail.method: 'totp' (confirmed) or 'backup_codes' (regenerated). */
  | 'mfa_enrolled'
  /** The user removed their TOTP authenticator. */
  | 'mfa_removed'
  /** An admin removed every second factor of userId. */
  | 'mfa_reset'
  | 'backup_code_used'
  | 'passkey_registered'
  | 'passkey_renamed'
  | 'passkey_removed'
  /** A decoy (honey) account was used; detail carries the user agent. */
  | 'honey_hit';

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

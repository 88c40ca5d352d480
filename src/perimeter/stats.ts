/** Why the perimeter refused a request before any route ran. */
export type RefusalReason = 'ip_blocked' | 'geo_blocked' | 'admin_ip_not_allowed' | 'admin_listener_only' | 'rate_limited' | 'limiter_unavailable';

export type PerimeterEvent =
  | { type: 'refused'; reason: RefusalReason; ip: string; path: string; policy?: string }
  | { type: 'ip_blocked'; subject: string; trigger: 'not_found' | 'auth_failures'; count: number; expiresAt: number }
  | { type: 'block_lifted'; subject: string; by: string | null };

/**
 * Counters and events for whoever turns them into metrics, security-log lines
 * or alerts (`flotilla_blocked_requests_total{reason}`, `flotilla_rate_limited_total`).
 * The perimeter itself only counts; a listener that throws is ignored.
 */
export class PerimeterStats {
  readonly refused: Record<RefusalReason, number> = {
    ip_blocked: 0,
    geo_blocked: 0,
    admin_ip_not_allowed: 0,
    admin_listener_only: 0,
    rate_limited: 0,
    limiter_unavailable: 0,
  };
  /** 429s by policy name (`ip`, `user`, `agent`, `login`, or an endpoint limit). */
  readonly rateLimitedByPolicy = new Map<string, number>();
  ipBlocks = 0;
  private readonly listeners = new Set<(event: PerimeterEvent) => void>();

  /** Subscribes to every event; returns the unsubscribe function. */
  subscribe(listener: (event: PerimeterEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  record(event: PerimeterEvent): void {
    if (event.type === 'refused') {
      this.refused[event.reason]++;
      if (event.reason === 'rate_limited' && event.policy) this.rateLimitedByPolicy.set(event.policy, (this.rateLimitedByPolicy.get(event.policy) ?? 0) + 1);
    } else if (event.type === 'ip_blocked') {
      this.ipBlocks++;
    }
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A broken metrics or log listener must not break request handling.
      }
    }
  }
}

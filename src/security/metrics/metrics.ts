import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The security counters. Those whose events live in another domain (rate
 * limits, perimeter blocks, report ingest) move through `count()`, the one
 * hook other domains call; the names here are the whole vocabulary.
 */
export const COUNTERS = {
  flotilla_failed_logins_total: { help: 'Failed login attempts (password or second factor).', labels: [] },
  flotilla_honey_token_triggered_total: { help: 'Uses of a honey (decoy) account or token.', labels: [] },
  flotilla_unauthorized_access_total: { help: 'Requests refused 401 or 403 outside the login routes.', labels: [] },
  flotilla_admin_actions_total: { help: 'State-changing requests by admins on admin routes.', labels: [] },
  flotilla_rate_limited_total: { help: 'Requests refused 429 by a rate limit.', labels: [] },
  flotilla_blocked_requests_total: { help: 'Requests refused by a block, by reason.', labels: ['reason'] },
  flotilla_reports_ingested_total: { help: 'Agent reports accepted.', labels: [] },
  flotilla_security_actions_total: { help: 'Automatic responses taken by detection rules, by action.', labels: ['action'] },
  flotilla_audit_append_failures_total: { help: 'Audit entries that could not be written.', labels: [] },
  flotilla_audit_head_failures_total: { help: 'Times the signed audit head could not be advanced (it no longer matches the database, or its store failed).', labels: [] },
} as const satisfies Record<string, { help: string; labels: readonly string[] }>;

export type CounterName = keyof typeof COUNTERS;
export type AgentCounts = Partial<Record<'online' | 'warning' | 'offline' | 'decommissioned', number>>;

/**
 * One registry per server instance (never prom-client's global one), so two
 * servers in one process, as in tests, keep separate counts.
 */
export class SecurityMetrics {
  readonly registry = new Registry();
  private readonly counters = new Map<CounterName, Counter>();
  private readonly requestDuration: Histogram;
  private readonly onError: (err: unknown) => void;

  /** `agents` is where `flotilla_agents` reads its numbers at scrape time (the fleet summary). */
  constructor(opts: { onError?: (err: unknown) => void; agents?: () => Promise<AgentCounts> } = {}) {
    this.onError = opts.onError ?? (() => {});
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters fail promtool's lint; the per-type gauges beside them carry the same numbers.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    for (const [name, spec] of Object.entries(COUNTERS) as Array<[CounterName, (typeof COUNTERS)[CounterName]]>) {
      this.counters.set(name, new Counter({ name, help: spec.help, labelNames: [...spec.labels], registers: [this.registry] }));
    }
    this.requestDuration = new Histogram({
      name: 'flotilla_http_request_duration_seconds',
      help: 'HTTP request duration by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    const source = opts.agents;
    const reportError = (err: unknown) => this.onError(err);
    new Gauge({
      name: 'flotilla_agents',
      help: 'Enrolled agents by status.',
      labelNames: ['status'],
      registers: [this.registry],
      // Read at scrape time; `this` is the gauge here.
      async collect() {
        if (!source) return;
        try {
          const counts = await source();
          this.reset();
          for (const [status, n] of Object.entries(counts)) this.set({ status }, n ?? 0);
        } catch (err) {
          reportError(err);
        }
      },
    });
  }

  /** The hook for every domain: never throws, so a metric cannot break a request. */
  count(name: CounterName, labels: Record<string, string> = {}, value = 1): void {
    try {
      this.counters.get(name)?.inc(labels, value);
    } catch (err) {
      this.onError(err);
    }
  }

  /** `route` is the route pattern (`/api/admin/users/:id`), never the raw URL, so label values stay bounded. */
  observeRequest(method: string, route: string, statusCode: number, seconds: number): void {
    this.requestDuration.observe({ method, route, status_code: String(statusCode) }, seconds);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

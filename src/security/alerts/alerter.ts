/** What detection tells people about. Never carries a secret; `detail` is small and flat. */
export type AlertSeverity = 'info' | 'warning' | 'critical';

export interface Alert {
  /** The rule that fired, e.g. `refresh_token_reuse`. */
  kind: string;
  severity: AlertSeverity;
  summary: string;
  at: number;
  /** What it is about: an IP, a user id, an agent id. */
  subject: string | null;
  detail?: Readonly<Record<string, string | number | boolean | null>>;
}

/** A notifier. send() never throws: a failed notification is logged, it never breaks a response. */
export interface Alerter {
  send(alert: Alert): Promise<void>;
}

/** Sends to every notifier; one failing never stops the others. */
export function fanOut(alerters: readonly Alerter[], onError: (err: unknown, alert: Alert) => void): Alerter {
  return {
    async send(alert) {
      await Promise.all(
        alerters.map(async (a) => {
          try {
            await a.send(alert);
          } catch (err) {
            onError(err, alert);
          }
        }),
      );
    },
  };
}

/** The always-on notifier: the server log (the security log gets its own line from the recorder). */
export function logAlerter(log: { warn(obj: object, msg: string): void }): Alerter {
  return {
    async send(alert) {
      log.warn({ alert: { kind: alert.kind, severity: alert.severity, subject: alert.subject, detail: alert.detail ?? {} } }, `security alert: ${alert.summary}`);
    },
  };
}

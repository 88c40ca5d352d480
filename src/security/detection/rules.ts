import type { AlertSeverity } from '../alerts/alerter.js';

/** What a rule may do; each is audited when it happens and can be undone by an admin. */
export type ResponseAction =
  /** Block the event's IP for a TTL (lifted at DELETE /api/admin/security/blocks/:ip). */
  | 'block_ip'
  /** End every session of the event's user (they sign in again). */
  | 'revoke_user_sessions'
  | 'alert';

export type Threshold = 'ip_failures';

export interface DetectionRule {
  name: string;
  /** Audit actions (identity event types and domain actions) the rule listens to. */
  on: readonly string[];
  /** A counted condition that must be exceeded first; absent means every event fires. */
  threshold?: Threshold;
  actions: readonly ResponseAction[];
  severity: AlertSeverity;
  summary: string;
  /** Alert only when this event made the block (not on every later failure, nor for an exempt address). */
  alertOnlyOnBlock?: boolean;
}

/**
 * The rules table: events to responses.
 * Account suspension after too many failures is identity's own (login), so
 * here it only raises the alert.
 */
export const DETECTION_RULES: readonly DetectionRule[] = [
  { name: 'ip_failed_logins', on: ['login_failed'], threshold: 'ip_failures', actions: ['block_ip', 'alert'], alertOnlyOnBlock: true, severity: 'warning', summary: 'repeated failed logins from one address; address blocked' },
  { name: 'honey_account', on: ['honey_hit'], actions: ['block_ip', 'alert'], severity: 'critical', summary: 'a honey account was used; its address is blocked unless exempt' },
  { name: 'refresh_token_reuse', on: ['refresh_token_reused'], actions: ['revoke_user_sessions', 'alert'], severity: 'critical', summary: 'a used refresh token came back; all sessions of the user revoked' },
  { name: 'account_suspended', on: ['account_suspended'], actions: ['alert'], severity: 'warning', summary: 'an account was suspended after too many failed logins' },
  { name: 'agent_key_second_ip', on: ['agent_ip_changed'], actions: ['alert'], severity: 'warning', summary: 'an agent key was used from a second address while the first was active' },
];

/** Actions that show on the security-events page (`GET /api/admin/security/events`). */
export const SECURITY_EVENT_ACTIONS: readonly string[] = [
  'login_failed',
  'account_locked',
  'account_suspended',
  'honey_hit',
  'refresh_token_reused',
  'new_location',
  'mfa_reset',
  'sessions_revoked',
  'ip_blocked',
  'ip_unblocked',
  'agent_ip_changed',
  'alert_raised',
];

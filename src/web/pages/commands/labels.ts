import type { CommandAction, CommandDetail, CommandRequestState, CommandState, CommandTarget } from '../../api/types.js';

/** The server's catalog (docs/api.md "Catalog"); the server checks every request against it again. */
export const ACTIONS: ReadonlyArray<{ action: CommandAction; label: string; highRisk: boolean }> = [
  { action: 'ping', label: 'Ping', highRisk: false },
  { action: 'collect', label: 'Collect a report now', highRisk: false },
  { action: 'diagnostics', label: 'Diagnostics', highRisk: false },
  { action: 'restart_agent', label: 'Restart the agent', highRisk: true },
  { action: 'run_script', label: 'Run a script', highRisk: true },
];

export const REQUEST_STATE_LABELS: Record<CommandRequestState, string> = {
  pending_approval: 'Waiting for approval',
  approved: 'Approved',
  rejected: 'Rejected',
  cancelled: 'Cancelled',
  expired: 'Expired',
};

export const COMMAND_STATE_LABELS: Record<CommandState, string> = {
  queued: 'Queued',
  delivered: 'Delivered',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  timed_out: 'Timed out',
  refused: 'Refused',
  expired: 'Expired',
  cancelled: 'Cancelled',
};

const FINAL_COMMAND_STATES: ReadonlySet<CommandState> = new Set(['succeeded', 'failed', 'timed_out', 'refused', 'expired', 'cancelled']);

export function actionLabel(action: string): string {
  return ACTIONS.find((a) => a.action === action)?.label ?? action;
}

export function targetLabel(target: CommandTarget): string {
  if ('tag' in target) return `tag ${target.tag}`;
  return target.machines.length === 1 ? '1 machine' : `${target.machines.length} machines`;
}

/** Nothing more will change: decided against, or approved and every machine's command is over. */
export function isFinished(detail: CommandDetail): boolean {
  if (detail.state === 'pending_approval') return false;
  if (detail.state !== 'approved') return true;
  return detail.machines.every((m) => FINAL_COMMAND_STATES.has(m.state));
}

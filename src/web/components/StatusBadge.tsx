import type { MachineStatus } from '../api/types.js';

const LABELS: Record<MachineStatus, string> = { online: 'Online', warning: 'Late', offline: 'Offline', decommissioned: 'Decommissioned' };

/** Colour plus a word, so the status never depends on colour alone. */
export function StatusBadge({ status }: { status: MachineStatus }) {
  return <span className={`badge badge-${status}`}>{LABELS[status] ?? status}</span>;
}

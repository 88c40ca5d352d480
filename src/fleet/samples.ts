import type { Report } from '../protocol/report.js';

/** The narrow numeric sample stored per report: percents, bytes per second, load. */
export interface Sample {
  cpu: number | null;
  mem: number | null;
  swap: number | null;
  disk: number | null;
  netRx: number | null;
  netTx: number | null;
  load1: number | null;
}

/** Network byte counters at a point in time, to turn the next counters into rates. */
export interface NetCounters {
  at: number;
  rx: number;
  tx: number;
}

const percentOf = (used: number, total: number): number | null => (total > 0 ? Math.min(100, (used / total) * 100) : null);

/**
 * Derives the stored sample from a report. `disk` is the fullest mount (the
 * one an alert cares about); network counters become rates against the
 * previous counters, and a counter that went down (a reboot) gives no rate.
 */
export function sampleOf(report: Report, previous: NetCounters | null): { sample: Sample; counters: NetCounters | null } {
  const disks = (report.disks ?? []).map((d) => percentOf(d.usedBytes, d.totalBytes)).filter((p): p is number => p !== null);
  let netRx: number | null = null;
  let netTx: number | null = null;
  let counters: NetCounters | null = null;
  if (report.network && report.network.length > 0) {
    counters = {
      at: report.collectedAt,
      rx: report.network.reduce((sum, n) => sum + n.rxBytes, 0),
      tx: report.network.reduce((sum, n) => sum + n.txBytes, 0),
    };
    if (previous && counters.at > previous.at && counters.rx >= previous.rx && counters.tx >= previous.tx) {
      const seconds = (counters.at - previous.at) / 1000;
      netRx = (counters.rx - previous.rx) / seconds;
      netTx = (counters.tx - previous.tx) / seconds;
    }
  }
  return {
    sample: {
      cpu: report.cpu?.percent ?? null,
      mem: report.memory ? percentOf(report.memory.usedBytes, report.memory.totalBytes) : null,
      swap: report.swap ? percentOf(report.swap.usedBytes, report.swap.totalBytes) : null,
      disk: disks.length > 0 ? Math.max(...disks) : null,
      netRx,
      netTx,
      load1: report.cpu?.load?.[0] ?? null,
    },
    counters,
  };
}

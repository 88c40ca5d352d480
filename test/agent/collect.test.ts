import { Value } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { MetricsCollector } from '../../src/agent/collect.js';
import { fitToSchema } from '../../src/agent/fit.js';
import { SyntheticMachine } from '../../src/agent/synthetic.js';
import { FactsSchema, ReportSchema } from '../../src/protocol/report.js';
import { ManualClock, systemClock } from '../../src/lib/clock.js';
import { recordingLog } from './recording-log.js';

describe('metrics collector (this machine)', () => {
  it('returns reports that validate against the report schema, facts first then only on change', async () => {
    const log = recordingLog();
    const collector = new MetricsCollector({ clock: systemClock, log });
    const first = await collector.collect();
    expect(Value.Errors(ReportSchema, first)).toEqual([]);
    expect(first.facts?.platform).toBe(process.platform);
    expect(first.facts?.hostname.length).toBeGreaterThan(0);
    expect(first.cpu?.percent).toBeGreaterThanOrEqual(0);
    expect(first.cpu?.load).toHaveLength(3);
    expect(first.memory?.totalBytes).toBeGreaterThan(0);
    expect(first.disks?.length).toBeGreaterThan(0);
    expect(first.network?.length).toBeGreaterThan(0);
    expect(first.processes?.count).toBeGreaterThan(0);
    expect(first.processes?.topCpu?.length).toBeLessThanOrEqual(5);
    expect(first.processes?.topMemory?.length).toBeLessThanOrEqual(5);
    expect(first.uptimeSeconds).toBeGreaterThan(0);

    const second = await collector.collect();
    expect(Value.Errors(ReportSchema, second)).toEqual([]);
    expect(second.facts).toBeUndefined();
    expect(second.collectedAt).toBeGreaterThanOrEqual(first.collectedAt);
  });

  it('reads facts for enrollment that fit the facts schema', async () => {
    const facts = await new MetricsCollector({ clock: systemClock }).facts();
    expect(Value.Check(FactsSchema, facts)).toBe(true);
    expect(facts.arch).toBe(process.arch);
  });
});

describe('fitting values to the schema', () => {
  it('cuts strings and arrays, clamps and rounds numbers, drops unknown keys and unusable sections', () => {
    const raw = {
      collectedAt: 1_767_225_600_000.7,
      facts: { hostname: 'h'.repeat(20_000), os: 'Linux', platform: 'linux', arch: 'x64', cpuCores: 0, extra: 'dropped' },
      cpu: { percent: 100.0000001, perCore: [-1, 50, Number.NaN], load: [1, 2, 3] },
      memory: { totalBytes: 10, usedBytes: -5 },
      disks: Array.from({ length: 80 }, (_, i) => ({ mount: `/m${i}`, totalBytes: 1, usedBytes: 1 })),
      processes: { count: 3, topCpu: [{ pid: 1, name: '🚀'.repeat(300), cpu: 1, mem: 200 }] },
      battery: { percent: 50 },
      uptimeSeconds: Infinity,
    };
    const fitted = fitToSchema(ReportSchema, raw) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(Value.Errors(ReportSchema, fitted)).toEqual([]);
    expect(fitted.collectedAt).toBe(1_767_225_600_001);
    expect(fitted.facts.hostname).toHaveLength(10_000);
    expect(fitted.facts.cpuCores).toBe(1);
    expect(fitted.facts.extra).toBeUndefined();
    expect(fitted.cpu).toEqual({ percent: 100, perCore: [0, 50], load: [1, 2, 3] });
    expect(fitted.memory).toEqual({ totalBytes: 10, usedBytes: 0 });
    expect(fitted.disks).toHaveLength(64);
    // Cut by code points, never splitting a surrogate pair.
    expect(Array.from(fitted.processes.topCpu[0].name as string)).toHaveLength(256);
    expect(fitted.processes.topCpu[0].mem).toBe(100);
    expect(fitted.battery).toBeUndefined();
    expect(fitted.uptimeSeconds).toBeUndefined();
  });
});

describe('synthetic machines', () => {
  it('produce varied, valid reports; facts only in the first', () => {
    const clock = new ManualClock();
    const machines = Array.from({ length: 40 }, (_, i) => new SyntheticMachine(i, 42, clock.nowMs()));
    const platforms = new Set(machines.map((m) => m.facts.platform));
    expect(platforms.size).toBeGreaterThanOrEqual(3);
    expect(new Set(machines.map((m) => m.facts.hostname)).size).toBe(40);
    for (const m of machines) {
      const first = m.next(clock.nowMs(), 10);
      expect(Value.Errors(ReportSchema, first)).toEqual([]);
      expect(first.facts).toBeDefined();
      clock.advance(10_000);
      const second = m.next(clock.nowMs(), 10);
      expect(Value.Errors(ReportSchema, second)).toEqual([]);
      expect(second.facts).toBeUndefined();
      expect(second.network?.[0]?.rxBytes).toBeGreaterThanOrEqual(first.network?.[0]?.rxBytes ?? 0);
    }
    const same = new SyntheticMachine(3, 42, clock.nowMs());
    expect(same.facts).toEqual(machines[3]?.facts);
  });

  it('keep a given hostname verbatim', () => {
    const name = '<img src=x onerror=alert(1)>';
    const m = new SyntheticMachine(0, 1, Date.UTC(2026, 0, 1), name);
    const report = m.next(Date.UTC(2026, 0, 1), 10);
    expect(report.facts?.hostname).toBe(name);
    expect(Value.Check(ReportSchema, report)).toBe(true);
  });
});

import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileSpool, MemorySpool, type ReportSpool, type SpoolLimits } from '../../src/agent/spool.js';
import { ManualClock } from '../../src/lib/clock.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'flotilla-agent-spool-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
let n = 0;
const freshDir = () => join(root, `case-${++n}`, 'spool');

const HOUR = 3_600_000;
type Item = { collectedAt: number; pad: string };
const item = (collectedAt: number, pad = ''): Item => ({ collectedAt, pad });
const itemBytes = (i: Item) => Buffer.byteLength(JSON.stringify(i));

const kinds: Array<{ name: string; open: (clock: ManualClock, limits?: SpoolLimits) => Promise<ReportSpool<Item>> }> = [
  { name: 'file', open: (clock, limits) => FileSpool.open<Item>(freshDir(), clock, limits) },
  { name: 'memory', open: async (clock, limits) => new MemorySpool<Item>(clock, limits) },
];

for (const kind of kinds) {
  describe(`${kind.name} spool bounds`, () => {
    it('keeps order and drops entries older than the age bound', async () => {
      const clock = new ManualClock();
      const spool = await kind.open(clock, { maxAgeMs: 24 * HOUR, maxBytes: 1_000_000 });
      const t0 = clock.nowMs();
      for (let i = 0; i < 5; i++) await spool.push(item(t0 + i * HOUR), t0 + i * HOUR);
      expect((await spool.head(10)).map((e) => e.item.collectedAt)).toEqual([0, 1, 2, 3, 4].map((i) => t0 + i * HOUR));
      // Two hours past the first entry's 24 h: the first two are gone.
      clock.advance(25 * HOUR + 1);
      expect((await spool.head(10)).map((e) => e.item.collectedAt)).toEqual([2, 3, 4].map((i) => t0 + i * HOUR));
      expect(spool.length).toBe(3);
    });

    it('drops the oldest entries first to stay under the size bound', async () => {
      const clock = new ManualClock();
      const one = itemBytes(item(clock.nowMs(), 'x'.repeat(100)));
      const spool = await kind.open(clock, { maxAgeMs: 24 * HOUR, maxBytes: one * 3 });
      const drops = [];
      for (let i = 0; i < 5; i++) drops.push(await spool.push(item(clock.nowMs() + i, 'x'.repeat(100)), clock.nowMs() + i));
      expect(drops.map((d) => d.overflow)).toEqual([0, 0, 0, 1, 1]);
      expect((await spool.head(10)).map((e) => e.item.collectedAt - clock.nowMs())).toEqual([2, 3, 4]);
      expect(spool.bytes).toBeLessThanOrEqual(one * 3);
      // A report larger than the whole spool is refused, not allowed to empty it.
      await expect(spool.push(item(clock.nowMs(), 'x'.repeat(one * 3)), clock.nowMs())).rejects.toThrow(RangeError);
      expect(spool.length).toBe(3);
    });

    it('removes what was sent and leaves the rest in order', async () => {
      const clock = new ManualClock();
      const spool = await kind.open(clock);
      for (let i = 0; i < 6; i++) await spool.push(item(clock.nowMs() + i), clock.nowMs() + i);
      const first = await spool.head(4);
      await spool.remove(first.slice(0, 3).map((e) => e.id));
      expect((await spool.head(10)).map((e) => e.item.collectedAt - clock.nowMs())).toEqual([3, 4, 5]);
    });
  });
}

describe('file spool on disk', () => {
  it('survives a restart with order and ids intact, files 0600 in a 0700 directory', async () => {
    const dir = freshDir();
    const clock = new ManualClock();
    const spool = await FileSpool.open<Item>(dir, clock);
    for (let i = 0; i < 4; i++) await spool.push(item(clock.nowMs() + i), clock.nowMs() + i);
    const before = await spool.head(10);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    for (const name of await readdir(dir)) expect((await stat(join(dir, name))).mode & 0o777).toBe(0o600);

    const reopened = await FileSpool.open<Item>(dir, clock);
    const after = await reopened.head(10);
    expect(after.map((e) => [e.id, e.item])).toEqual(before.map((e) => [e.id, e.item]));
    expect(reopened.bytes).toBe(spool.bytes);
    // New entries go after the old ones.
    await reopened.push(item(clock.nowMs() + 99), clock.nowMs() + 99);
    const last = (await reopened.head(10)).at(-1);
    expect(last?.item.collectedAt).toBe(clock.nowMs() + 99);
    expect(last?.id).toBeGreaterThan(Math.max(...before.map((e) => e.id)));
  });

  it('applies the bounds to what it finds at start, skips damaged entries and clears temporary files', async () => {
    const dir = freshDir();
    const clock = new ManualClock();
    const spool = await FileSpool.open<Item>(dir, clock);
    for (let i = 0; i < 3; i++) await spool.push(item(clock.nowMs() + i * HOUR), clock.nowMs() + i * HOUR);
    const [first] = await spool.head(1);
    const names = (await readdir(dir)).sort();
    await writeFile(join(dir, names[1] ?? ''), '{"torn', { mode: 0o600 });
    await writeFile(join(dir, 'x.json.abc.tmp'), 'partial');

    clock.advance(24 * HOUR + 1);
    const reopened = await FileSpool.open<Item>(dir, clock);
    expect(await readdir(dir)).not.toContain('x.json.abc.tmp');
    // The first has expired, the second is damaged: only the third is left.
    const left = await reopened.head(10);
    expect(left.map((e) => e.item.collectedAt)).toEqual([(first?.item.collectedAt ?? 0) + 2 * HOUR]);
    expect((await readdir(dir)).length).toBe(1);
  });

  it('serializes concurrent pushes and removals', async () => {
    const clock = new ManualClock();
    const spool = await FileSpool.open<Item>(freshDir(), clock);
    await Promise.all(Array.from({ length: 30 }, (_, i) => spool.push(item(clock.nowMs() + i), clock.nowMs() + i)));
    const head = await spool.head(10);
    await Promise.all([spool.remove(head.map((e) => e.id)), spool.push(item(clock.nowMs() + 100), clock.nowMs() + 100)]);
    expect(spool.length).toBe(21);
    expect((await spool.head(100)).map((e) => e.id)).toEqual([...Array.from({ length: 20 }, (_, i) => i + 11), 31]);
  });
});

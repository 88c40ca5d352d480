import { afterEach, describe, expect, it } from 'vitest';
import type { Kv } from '../../src/store/kv/kv.js';
import { JobLease } from '../../src/store/kv/lease.js';
import { kvBackends } from '../harness/backends.js';

for (const backend of kvBackends()) {
  describe.skipIf(!backend.available)(`job lease: ${backend.name}`, () => {
    const open: Kv[] = [];
    afterEach(async () => Promise.all(open.splice(0).map((kv) => kv.close())));
    const kv = async () => {
      const created = await backend.create();
      open.push(created);
      return created;
    };

    it('runs a job on one holder at a time and releases it afterwards', async () => {
      const shared = await kv();
      const [a, b] = [new JobLease(shared, 'job', 60_000), new JobLease(shared, 'job', 60_000)];
      const ran: string[] = [];
      let release: () => void = () => undefined;
      const first = a.run(() => new Promise<void>((resolve) => ((release = resolve), ran.push('a'))));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await b.run(async () => void ran.push('b'))).toBe(false);
      release();
      expect(await first).toBe(true);
      expect(await b.run(async () => void ran.push('b'))).toBe(true);
      expect(ran).toEqual(['a', 'b']);
    });

    it('keeps a held lease between runs until it is released, even when the job fails', async () => {
      const shared = await kv();
      const [leader, other] = [new JobLease(shared, 'periodic', 60_000), new JobLease(shared, 'periodic', 60_000)];
      await expect(leader.run(async () => Promise.reject(new Error('boom')), { hold: true })).rejects.toThrow('boom');
      expect(await other.run(async () => undefined)).toBe(false);
      expect(await leader.run(async () => undefined, { hold: true })).toBe(true);
      await leader.release();
      expect(await other.run(async () => undefined)).toBe(true);
    });
  });
}

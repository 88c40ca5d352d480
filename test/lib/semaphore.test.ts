import { describe, expect, it } from 'vitest';
import { Semaphore } from '../../src/lib/semaphore.js';

describe('Semaphore fairness across keys', () => {
  it('lets a newcomer with another key in before a flood of one key drains', async () => {
    const gate = new Semaphore(1);
    const order: string[] = [];
    let release!: () => void;
    const blocker = gate.run(() => new Promise<void>((resolve) => (release = resolve)), 'flood');
    const tasks = Array.from({ length: 10 }, (_, i) => gate.run(async () => void order.push(`flood-${i}`), 'flood'));
    const bystander = gate.run(async () => void order.push('bystander'), 'bystander');
    expect(gate.waiting).toBe(11);
    await new Promise((resolve) => setImmediate(resolve)); // let the blocker start
    release();
    await Promise.all([blocker, bystander, ...tasks]);
    // Round robin: one flood task, then the bystander, then the rest of the flood in order.
    expect(order.slice(0, 3)).toEqual(['flood-0', 'bystander', 'flood-1']);
    expect(order.filter((o) => o.startsWith('flood'))).toEqual(Array.from({ length: 10 }, (_, i) => `flood-${i}`));
    expect(gate.active).toBe(0);
    expect(gate.waiting).toBe(0);
  });
});

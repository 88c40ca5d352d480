import { describe, expect, it } from 'vitest';
import { LruCache } from '../../src/lib/lru.js';

describe('LruCache', () => {
  it('holds at most its capacity and drops the least recently used entry', () => {
    const cache = new LruCache<string, number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1);
    cache.set('c', 3);
    expect(cache.size).toBe(2);
    expect(cache.get('b')).toBeUndefined();
    expect([cache.get('a'), cache.get('c')]).toEqual([1, 3]);
  });

  it('getOrSet makes a value once and keeps it until evicted', () => {
    const cache = new LruCache<string, number>(1);
    let made = 0;
    const make = () => ++made;
    expect([cache.getOrSet('a', make), cache.getOrSet('a', make)]).toEqual([1, 1]);
    expect(cache.getOrSet('b', make)).toBe(2);
    expect(cache.getOrSet('a', make)).toBe(3);
  });

  it('refuses a capacity below one', () => {
    expect(() => new LruCache(0)).toThrow(RangeError);
  });
});

import { describe, expect, it } from 'vitest';
import { jsonMayHoldNul, nulPath } from '../../src/lib/nul.js';

describe('nulPath', () => {
  it('finds the first NUL in a string, an array item or a nested field, as a JSON pointer', () => {
    expect(nulPath('a\u0000')).toBe('');
    expect(nulPath({ a: ['x', 'y\u0000z'] })).toBe('/a/1');
    expect(nulPath({ a: { b: 'ok' }, c: { d: '\u0000', e: '\u0000' } })).toBe('/c/d');
    expect(nulPath({ 'bad\u0000name': 'ok' })).toBe('');
  });

  it('answers null for text without one, whatever else it holds', () => {
    expect(nulPath({ a: ['%', '_', "'", '"', '\\u0000', '<script>', 'é'.repeat(1000)], b: 1, c: null, d: true })).toBeNull();
  });

  it('walks a value nested far deeper than the call stack allows', () => {
    let deep: unknown = 'bottom\u0000';
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(nulPath(deep)).toBe('/0'.repeat(200_000));
  });

  it('jsonMayHoldNul looks for the escape a NUL needs in JSON text', () => {
    expect(jsonMayHoldNul(JSON.stringify({ a: 'x\u0000' }))).toBe(true);
    expect(jsonMayHoldNul(JSON.stringify({ a: 'x' }))).toBe(false);
  });
});

/**
 * Where the first NUL character sits in a parsed JSON value, as a JSON
 * pointer ('' for the root), or null when there is none. PostgreSQL text
 * cannot hold a NUL, so such input is refused with a 400 in every mode rather
 * than stored on SQLite and failing on PostgreSQL. Iterative: a value nested
 * to any depth cannot exhaust the stack.
 */
export function nulPath(value: unknown): string | null {
  const stack: Array<{ value: unknown; path: string }> = [{ value, path: '' }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const current = item.value;
    if (typeof current === 'string') {
      if (current.includes('\u0000')) return item.path;
    } else if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) stack.push({ value: current[i], path: `${item.path}/${i}` });
    } else if (current !== null && typeof current === 'object') {
      const keys = Object.keys(current);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i] as string;
        // A NUL in a name is reported at the object that holds it, so the name is never echoed.
        if (key.includes('\u0000')) return item.path;
        stack.push({ value: (current as Record<string, unknown>)[key], path: `${item.path}/${key}` });
      }
    }
  }
  return null;
}

/** JSON text can carry a NUL only as the escape `\u0000`: without one, there is nothing to look for. */
export function jsonMayHoldNul(text: string): boolean {
  return text.includes('\\u0000');
}

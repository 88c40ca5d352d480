import canonicalizeModule from 'canonicalize';

// canonicalize is CommonJS with an ESM-style .d.ts: under NodeNext its types
// describe a namespace, while at runtime the default import is the function.
const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/** RFC 8785 canonical JSON: the exact text that is hashed or signed. */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value is not JSON-serializable');
  return text;
}

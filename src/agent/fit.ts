/**
 * Bends a collected value to fit a JSON schema (as TypeBox builds it): strings
 * cut to `maxLength` (in code points, as JSON Schema counts), numbers rounded
 * for `integer` and clamped to `minimum`/`maximum`, arrays cut to `maxItems`,
 * unknown keys dropped. A value that cannot fit (wrong type, too short,
 * non-finite) becomes undefined; an object missing a required property does too.
 * Operating systems report odd things (hostnames of any length, NaN loads), and
 * one odd value must not cost the whole report.
 */
interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
}

export function fitToSchema(schema: unknown, value: unknown): unknown {
  const s = schema as JsonSchema;
  switch (s.type) {
    case 'string':
      return fitString(s, value);
    case 'integer':
    case 'number':
      return fitNumber(s, value);
    case 'boolean':
      return typeof value === 'boolean' ? value : undefined;
    case 'array':
      return fitArray(s, value);
    case 'object':
      return fitObject(s, value);
    default:
      return value;
  }
}

function fitString(s: JsonSchema, value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  let text = value;
  if (s.maxLength !== undefined && text.length > s.maxLength) text = Array.from(text).slice(0, s.maxLength).join('');
  if (s.minLength !== undefined && Array.from(text).length < s.minLength) return undefined;
  return text;
}

function fitNumber(s: JsonSchema, value: unknown): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
  let n = s.type === 'integer' ? Math.round(value) : value;
  if (s.minimum !== undefined) n = Math.max(s.minimum, n);
  if (s.maximum !== undefined) n = Math.min(s.maximum, n);
  return n;
}

function fitArray(s: JsonSchema, value: unknown): unknown[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const items = value.map((v) => (s.items ? fitToSchema(s.items, v) : v)).filter((v) => v !== undefined);
  const cut = s.maxItems !== undefined ? items.slice(0, s.maxItems) : items;
  return s.minItems !== undefined && cut.length < s.minItems ? undefined : cut;
}

function fitObject(s: JsonSchema, value: unknown): Record<string, unknown> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const source = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, sub] of Object.entries(s.properties ?? {})) {
    const fitted = Object.hasOwn(source, key) ? fitToSchema(sub, source[key]) : undefined;
    if (fitted !== undefined) out[key] = fitted;
    else if (s.required?.includes(key)) return undefined;
  }
  return out;
}

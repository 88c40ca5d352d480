import { Value } from 'typebox/value';

/**
 * One problem with the configuration: the key (dotted path, or an environment
 * variable name) and where the value came from. Never holds a secret value.
 */
export interface ConfigIssue {
  readonly key: string;
  readonly problem: string;
  /** `file /etc/flotilla.yaml`, `FLOTILLA_SERVER_PORT`, `command line`, … */
  readonly source?: string | undefined;
}

export function formatIssue(issue: ConfigIssue): string {
  const head = issue.key ? `${issue.key}: ${issue.problem}` : issue.problem;
  return issue.source ? `${head} (from ${issue.source})` : head;
}

/** Stops start-up: every issue found, one per line, secret values left out. */
export class ConfigError extends Error {
  readonly code = 'config_invalid';
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[] | ConfigIssue, options: { cause?: unknown } = {}) {
    const list = Array.isArray(issues) ? issues : [issues as ConfigIssue];
    super(list.map(formatIssue).join('\n'), options);
    this.name = 'ConfigError';
    this.issues = list;
  }
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

interface SchemaNode {
  readonly node: Json | undefined;
  /** The node or one of its ancestors is marked `x-secret`. */
  readonly secret: boolean;
}

/** Follows a path through properties / patternProperties / items, as the validator does. */
function schemaAt(root: Json, path: readonly string[]): SchemaNode {
  let node: Json | undefined = root;
  let secret = root['x-secret'] === true;
  for (const segment of path) {
    if (!node) break;
    const props = node['properties'];
    const patterns = node['patternProperties'];
    let next: unknown;
    if (isObject(props) && Object.hasOwn(props, segment)) next = props[segment];
    else if (isObject(patterns)) {
      // Patterns come from our own schema, never from input.
      // eslint-disable-next-line security/detect-non-literal-regexp
      const entry = Object.entries(patterns).find(([pattern]) => new RegExp(pattern, 'u').test(segment));
      next = entry?.[1];
    } else if (isObject(node['items'])) next = node['items'];
    node = isObject(next) ? next : undefined;
    if (node?.['x-secret'] === true) secret = true;
  }
  return { node, secret };
}

/**
 * A value is shown only for a non-secret scalar setting. An object-valued key
 * (say `database: "postgres://u:pw@h"` written one level too high) may hold a
 * misplaced secret, so its value is described by type alone.
 */
function showable(value: unknown, at: SchemaNode): string | undefined {
  const leaf = at.node !== undefined && at.node['type'] !== 'object' && at.node['type'] !== 'array';
  if (at.secret || !leaf) return undefined;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value !== 'string') return undefined;
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}..."` : text;
}

const typeName = (value: unknown): string => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);

const decodePointer = (pointer: string): string[] =>
  pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));

function valueAt(root: unknown, path: readonly string[]): unknown {
  let v = root;
  for (const segment of path) v = isObject(v) || Array.isArray(v) ? (v as Json)[segment] : undefined;
  return v;
}

/**
 * Validates `value` against `schema` and turns TypeBox's errors into issues
 * keyed by dotted path (`server.port: expected integer, got "abc"`).
 * `prefix` is prepended to every path; `sourceOf` tells where a path came from.
 */
export function validationIssues(
  schema: object,
  value: unknown,
  sourceOf: (path: readonly string[]) => string | undefined,
  prefix: readonly string[] = [],
): ConfigIssue[] {
  const root = schema as Json;
  const issues = new Map<string, ConfigIssue>();
  const add = (path: readonly string[], problem: string) => {
    const full = [...prefix, ...path];
    const issue = { key: full.join('.'), problem, source: sourceOf(full) };
    issues.set(formatIssue(issue), issue);
  };
  for (const error of Value.Errors(schema as Parameters<typeof Value.Errors>[0], value)) {
    const path = decodePointer(error.instancePath);
    const at = schemaAt(root, path);
    const actual = valueAt(value, path);
    const shown = showable(actual, at);
    const got = shown === undefined ? '' : `, got ${shown}`;
    const params = error.params as Record<string, unknown>;
    switch (error.keyword) {
      case 'additionalProperties':
        for (const name of (params['additionalProperties'] as string[] | undefined) ?? []) add([...path, name], 'unknown key');
        break;
      case 'boolean': // `additionalProperties: false` reached by an extra key
        add(path, 'unknown key');
        break;
      case 'required':
        for (const name of (params['requiredProperties'] as string[] | undefined) ?? []) add([...path, name], 'missing required key');
        break;
      case 'type':
        add(path, `expected ${String(params['type'])}, got ${shown ?? typeName(actual)}`);
        break;
      case 'const':
      case 'anyOf':
      case 'enum': {
        const options = Array.isArray(at.node?.['anyOf']) ? (at.node['anyOf'] as Json[]).map((o) => String(o['const'])) : [];
        add(path, options.length ? `expected one of ${options.join(', ')}${got}` : `${error.message}${got}`);
        break;
      }
      default:
        add(path, `${error.message}${got}`);
    }
  }
  return [...issues.values()];
}

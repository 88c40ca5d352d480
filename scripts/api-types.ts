/**
 * Generates the dashboard's API types (src/web/api/generated.ts) from the
 * OpenAPI document the server serves, so the dashboard's idea of every JSON
 * shape cannot drift from the response schemas that decide what leaves the
 * server. `npm run api-types` rewrites the file; a test fails when it differs.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

type Schema = Record<string, unknown>;
interface Operation {
  parameters?: Array<{ in: string; name: string; required?: boolean; schema: Schema }>;
  requestBody?: { content?: Record<string, { schema: Schema }> };
  responses?: Record<string, { content?: Record<string, { schema: Schema }> }>;
}
interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
}

export const GENERATED_FILE = fileURLToPath(new URL('../src/web/api/generated.ts', import.meta.url));
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

const quote = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const literal = (value: unknown) => (typeof value === 'string' ? quote(value) : JSON.stringify(value));
const keyOf = (name: string) => (IDENTIFIER.test(name) ? name : quote(name));
const pad = (depth: number) => '  '.repeat(depth);

/** One JSON schema (the subset the server's TypeBox schemas produce) as a TypeScript type. */
function typeOf(schema: Schema | undefined, depth: number): string {
  if (schema === undefined || Object.keys(schema).length === 0) return 'unknown';
  const base = baseTypeOf(schema, depth);
  return schema.nullable === true ? `${base} | null` : base;
}

function baseTypeOf(schema: Schema, depth: number): string {
  if (Array.isArray(schema.enum)) return schema.enum.map(literal).join(' | ');
  if ('const' in schema) return literal(schema.const);
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as Schema[]).map((member) => typeOf(member, depth)).join(' | ');
  if (Array.isArray(schema.type)) return (schema.type as string[]).map((type) => typeOf({ ...schema, type, nullable: false }, depth)).join(' | ');
  switch (schema.type) {
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array': {
      const item = typeOf(schema.items as Schema | undefined, depth);
      return /^[A-Za-z]+$/.test(item) ? `${item}[]` : `Array<${item}>`;
    }
    case 'object':
      return objectTypeOf(schema, depth);
    default:
      return 'unknown';
  }
}

function objectTypeOf(schema: Schema, depth: number): string {
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  const required = new Set((schema.required ?? []) as string[]);
  const lines = Object.entries(properties).map(([name, property]) => `${pad(depth + 1)}${keyOf(name)}${required.has(name) ? '' : '?'}: ${typeOf(property, depth + 1)};`);
  const extra = schema.additionalProperties;
  if (extra === true || (extra === undefined && lines.length === 0)) lines.push(`${pad(depth + 1)}[key: string]: unknown;`);
  else if (extra !== undefined && extra !== false) lines.push(`${pad(depth + 1)}[key: string]: ${typeOf(extra as Schema, depth + 1)};`);
  if (lines.length === 0) return 'Record<string, never>';
  return `{\n${lines.join('\n')}\n${pad(depth)}}`;
}

function parametersOf(operation: Operation, where: 'path' | 'query', depth: number): string | null {
  const parameters = (operation.parameters ?? []).filter((parameter) => parameter.in === where);
  if (parameters.length === 0) return null;
  const lines = parameters.map((parameter) => `${pad(depth + 1)}${keyOf(parameter.name)}${parameter.required ? '' : '?'}: ${typeOf(parameter.schema, depth + 1)};`);
  return `{\n${lines.join('\n')}\n${pad(depth)}}`;
}

/** The JSON answer of a route: its first 2xx status with a JSON body, else none. */
function successOf(operation: Operation): Schema | null {
  const statuses = Object.keys(operation.responses ?? {}).filter((status) => /^2\d\d$/.test(status)).sort();
  for (const status of statuses) {
    const schema = operation.responses?.[status]?.content?.['application/json']?.schema;
    if (schema) return schema;
  }
  return null;
}

export function apiTypesFrom(document: OpenApiDocument): string {
  const routes: string[] = [];
  for (const path of Object.keys(document.paths).sort()) {
    for (const method of METHODS) {
      const operation = document.paths[path]?.[method];
      if (!operation) continue;
      const parts: string[] = [];
      const params = parametersOf(operation, 'path', 2);
      if (params) parts.push(`${pad(2)}params: ${params};`);
      const query = parametersOf(operation, 'query', 2);
      if (query) parts.push(`${pad(2)}query: ${query};`);
      const body = operation.requestBody?.content?.['application/json']?.schema;
      if (body) parts.push(`${pad(2)}body: ${typeOf(body, 2)};`);
      const success = successOf(operation);
      parts.push(`${pad(2)}response: ${success ? typeOf(success, 2) : 'unknown'};`);
      routes.push(`${pad(1)}${quote(`${method.toUpperCase()} ${path}`)}: {\n${parts.join('\n')}\n${pad(1)}};`);
    }
  }
  return [
    '/**',
    ' * Every JSON route of the API as the server serves it (GET /api/openapi.json).',
    ' * Generated by `npm run api-types`; do not edit by hand.',
    ' */',
    'export interface ApiRoutes {',
    ...routes,
    '}',
    '',
  ].join('\n');
}

/** The OpenAPI document of an embedded server on a throwaway data dir, answered through the whole HTTP stack. */
export async function servedOpenApiDocument(): Promise<OpenApiDocument> {
  const [{ loadConfig }, { openServices }, { buildApp }, { createLogger }] = await Promise.all([
    import('../src/config/load.js'),
    import('../src/server/services.js'),
    import('../src/server/app.js'),
    import('../src/server/logger.js'),
  ]);
  const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-api-types-'));
  try {
    const config = await loadConfig({ env: { FLOTILLA_LOCAL_AGENT: 'false' }, overrides: { dataDir } });
    const services = await openServices(config, { log: createLogger('silent') });
    try {
      const app = await buildApp(services);
      try {
        await app.ready();
        return JSON.parse((await app.inject({ method: 'GET', url: '/api/openapi.json' })).body) as OpenApiDocument;
      } finally {
        await app.close();
      }
    } finally {
      await services.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(GENERATED_FILE, apiTypesFrom(await servedOpenApiDocument()));
  console.log(`wrote ${GENERATED_FILE}`);
}

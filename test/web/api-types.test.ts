import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiTypesFrom, GENERATED_FILE } from '../../scripts/api-types.js';
import { startTestServer, type TestServer } from '../harness/server.js';

describe("the dashboard's API types", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ env: { FLOTILLA_LOCAL_AGENT: 'false' } });
  });
  afterAll(async () => t?.close());

  it('are what the served OpenAPI document says (run `npm run api-types` after changing a schema)', async () => {
    const served = await t.client().get('/api/openapi.json');
    expect(served.status).toBe(200);
    expect(readFileSync(GENERATED_FILE, 'utf8')).toBe(apiTypesFrom(served.json));
  });

  it('follow a schema change', () => {
    const document = {
      paths: {
        '/x/{id}': {
          get: {
            parameters: [{ in: 'path', name: 'id', required: true, schema: { type: 'string' } }],
            responses: {
              '200': {
                content: {
                  'application/json': {
                    schema: { type: 'object', required: ['a'], properties: { a: { enum: ['on', "it's"] }, b: { type: 'integer', nullable: true }, c: { type: 'array', items: { type: 'string' } } } },
                  },
                },
              },
            },
          },
        },
      },
    };
    const text = apiTypesFrom(document);
    expect(text).toContain("'GET /x/{id}': {");
    expect(text).toContain("a: 'on' | 'it\\'s';");
    expect(text).toContain('b?: number | null;');
    expect(text).toContain('c?: string[];');
  });
});

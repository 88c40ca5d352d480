import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandErrors } from '../../src/commands/errors.js';
import { fleetErrors } from '../../src/fleet/errors.js';
import { identityErrors } from '../../src/identity/errors.js';
import { commonErrors } from '../../src/lib/errors.js';
import { perimeterErrors } from '../../src/perimeter/errors.js';
import { securityErrors } from '../../src/security/errors.js';
import { startTestServer, type TestServer } from '../harness/server.js';

const API_DOC = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
/** The dashboard's own pages, not API routes. */
const DASHBOARD = new Set(['/', '/assets/*', '/*']);

describe('docs/api.md', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ env: { FLOTILLA_LOCAL_AGENT: 'false' } });
  });
  afterAll(async () => t?.close());

  it('names every route the server serves', () => {
    const routes = t.server.app.routeCatalog.filter((r) => r.method !== 'HEAD' && !DASHBOARD.has(r.url));
    expect(routes.length).toBeGreaterThan(40);
    const missing = routes.map((r) => `${r.method} ${r.url}`).filter((route) => !API_DOC.includes(route));
    expect(missing).toEqual([]);
  });

  it('names every error code a route can answer', () => {
    const codes = [commonErrors, identityErrors, fleetErrors, perimeterErrors, securityErrors, commandErrors].flatMap((table) => Object.keys(table));
    const missing = [...new Set(codes)].filter((code) => !API_DOC.includes(`\`${code}\``) && !API_DOC.includes(` ${code}\``));
    expect(missing).toEqual([]);
  });
});

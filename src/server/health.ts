import type { FastifyPluginAsync } from 'fastify';
import { sql } from 'kysely';
import { Type } from 'typebox';
import type { Services } from './services.js';

const Status = Type.Object({ status: Type.String() }, { additionalProperties: false });
const Ready = Type.Object(
  { status: Type.String(), checks: Type.Object({ database: Type.String(), kv: Type.String() }, { additionalProperties: false }) },
  { additionalProperties: false },
);

async function probe(check: () => Promise<unknown>): Promise<'ok' | 'unreachable'> {
  try {
    await check();
    return 'ok';
  } catch {
    return 'unreachable';
  }
}

/** /healthz: the process answers. /readyz: the database and KV answer too. */
export const healthRoutes: FastifyPluginAsync<{ services: Services }> = async (app, { services }) => {
  const open = { policy: { auth: 'none' } } as const;

  app.get('/healthz', { schema: { response: { 200: Status } }, config: open }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { response: { 200: Ready, 503: Ready } }, config: open }, async (_request, reply) => {
    const [database, kv] = await Promise.all([probe(() => sql`select 1`.execute(services.sql.db)), probe(() => services.kv.ping())]);
    const ready = database === 'ok' && kv === 'ok';
    reply.code(ready ? 200 : 503);
    return { status: ready ? 'ready' : 'unavailable', checks: { database, kv } };
  });
};

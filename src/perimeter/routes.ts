import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import { commonError, DomainError } from '../lib/errors.js';
import { perimeterError } from './errors.js';
import { parseSubject } from '../protocol/ip.js';
import type { Perimeter } from './module.js';
import { Ok, strict } from '../protocol/http-schemas.js';


const BlockSchema = Type.Object(
  {
    ip: Type.String(),
    reason: Type.Union([Type.Literal('not_found'), Type.Literal('auth_failures')]),
    count: Type.Integer(),
    blockedAt: Type.Integer(),
    expiresAt: Type.Integer(),
  },
  strict,
);
const BlockPage = Type.Object({ items: Type.Array(BlockSchema), next: Type.Null() }, strict);
const BlockParams = Type.Object({ ip: Type.String({ minLength: 1, maxLength: 64 }) }, strict);

/** A Kv failure while reading or lifting blocks is a 503, like every other Kv-backed check. */
async function kvCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof DomainError) throw err;
    throw commonError('unavailable', { cause: err });
  }
}

/** Blocked clients for admins: list them, lift one. */
export const perimeterRoutes: FastifyPluginAsync<{ perimeter: Perimeter }> = async (base, { perimeter }) => {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const admin = { policy: { auth: 'user', role: 'admin', scope: 'security:admin', resource: 'ip' } } as const;

  app.get('/api/admin/security/blocks', { schema: { response: { 200: BlockPage } }, config: admin }, async () => ({
    items: await kvCall(() => perimeter.blocks.list()),
    next: null,
  }));

  // `:ip` is URL-encoded by the caller (`2001%3Adb8%3A%3A%2F64`); the router decodes it.
  app.delete('/api/admin/security/blocks/:ip', { schema: { params: BlockParams, response: { 200: Ok } }, config: admin }, async (request) => {
    const subject = parseSubject(request.params.ip);
    if (!subject) throw perimeterError('invalid_ip');
    if (!(await kvCall(() => perimeter.blocks.lift(subject)))) throw perimeterError('block_not_found');
    const by = request.principal?.userId ?? null;
    perimeter.stats.record({ type: 'block_lifted', subject, by });
    request.log.info({ event: 'ip_unblocked', clientIp: subject, by }, 'ip block lifted');
    return { ok: true as const };
  });
};

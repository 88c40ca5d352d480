import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { commandError } from '../errors.js';
import type { Commands } from '../module.js';
import { IdParam, OkResponse, SealedBody } from './schemas.js';

/** A result carries up to 1 MiB of output, sealed and base64url-encoded. */
export const RESULT_BODY_LIMIT = 2 * 1024 * 1024;

/** The route agents post command results to (API key, sealed body). */
export const commandAgentRoutes: FastifyPluginAsync<{ commands: Commands }> = async (base, { commands }) => {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  app.post(
    '/api/agent/commands/:id/result',
    { bodyLimit: RESULT_BODY_LIMIT, schema: { params: IdParam, body: SealedBody, response: { 200: OkResponse } }, config: { policy: { auth: 'agent' } } },
    async (request) => {
      if (!request.agent) throw commandError('unauthorized');
      await commands.results.accept(request.agent.row, request.params.id, request.body);
      return { ok: true as const };
    },
  );
};

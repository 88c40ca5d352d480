import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { identityError } from '../errors.js';
import type { Identity } from '../module.js';
import type { Principal } from '../sessions/service.js';
import { emptyBodyAsObject, listenerPort } from './auth.js';
import { sendTokens } from './cookies.js';
import {
  BackupCodesResponse,
  EmptyBody,
  IdParam,
  MfaStatusSchema,
  Ok,
  PasskeyList,
  PasskeyRegistered,
  PasskeySchema,
  RegisterPasskeyBody,
  RegistrationOptions,
  RenamePasskey,
  TotpCode,
  TotpSetupResponse,
} from './schemas.js';

function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw identityError('unauthorized');
  return request.principal;
}

/**
 * The user's own second factors: TOTP, backup codes and passkeys. All of them
 * stay reachable for an admin who must still enroll (requireMfaForAdmins).
 */
export const mfaRoutes: FastifyPluginAsync<{ identity: Identity }> = async (base, { identity }) => {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const enroll = { policy: { auth: 'user', role: 'viewer', scope: 'account', allowDuringMfaEnrollment: true } } as const;
  // Adding, removing or minting a factor: a stolen session alone must not swap or strip the account's second factor.
  const change = { policy: { ...enroll.policy, stepUp: true } } as const;
  const { mfa, passkeys } = identity;

  /** The session just proved a new factor: it becomes multi-factor, with new tokens for the caller (none if it already was). */
  async function upgradeSession(request: FastifyRequest, reply: FastifyReply, factor: string) {
    const delivery = await identity.upgradeSession(principalOf(request), factor);
    return delivery ? sendTokens(reply, delivery) : {};
  }

  app.get('/api/me/mfa', { schema: { response: { 200: MfaStatusSchema } }, config: enroll }, async (request) => mfa.status(principalOf(request).userId));

  app.post(
    '/api/me/mfa/totp/setup',
    { schema: { body: EmptyBody, response: { 200: TotpSetupResponse } }, config: change, preValidation: emptyBodyAsObject },
    async (request) => {
      const user = await identity.users.get(principalOf(request).userId);
      return mfa.setupTotp(user.id, user.username);
    },
  );

  app.post('/api/me/mfa/totp/confirm', { schema: { body: TotpCode, response: { 200: BackupCodesResponse } }, config: change }, async (request, reply) => {
    const backupCodes = await mfa.confirmTotp(principalOf(request).userId, request.body.code.trim(), request.ip);
    return { backupCodes, ...(await upgradeSession(request, reply, 'otp')) };
  });

  app.delete('/api/me/mfa/totp', { schema: { response: { 200: Ok } }, config: change }, async (request) => {
    await mfa.removeTotp(principalOf(request).userId, request.ip);
    return { ok: true as const };
  });

  app.post(
    '/api/me/mfa/backup-codes',
    { schema: { body: EmptyBody, response: { 200: BackupCodesResponse } }, config: change, preValidation: emptyBodyAsObject },
    async (request) => ({ backupCodes: await mfa.regenerateBackupCodes(principalOf(request).userId, request.ip) }),
  );

  app.get('/api/me/passkeys', { schema: { response: { 200: PasskeyList } }, config: enroll }, async (request) => ({
    items: await passkeys.list(principalOf(request).userId),
    next: null,
  }));

  app.post(
    '/api/me/passkeys/register/options',
    { schema: { body: EmptyBody, response: { 200: RegistrationOptions } }, config: change, preValidation: emptyBodyAsObject },
    async (request) => {
      const user = await identity.users.get(principalOf(request).userId);
      return passkeys.registrationOptions(user);
    },
  );

  app.post('/api/me/passkeys/register/verify', { schema: { body: RegisterPasskeyBody, response: { 200: PasskeyRegistered } }, config: change }, async (request, reply) => {
    const principal = principalOf(request);
    const passkey = await passkeys.register(principal.userId, request.body.response, request.body.name, passkeys.originsFor(listenerPort(request)), request.ip);
    return { passkey, ...(await upgradeSession(request, reply, passkey.deviceType === 'multiDevice' ? 'swk' : 'hwk')) };
  });

  app.patch('/api/me/passkeys/:id', { schema: { params: IdParam, body: RenamePasskey, response: { 200: PasskeySchema } }, config: enroll }, async (request) =>
    passkeys.rename(principalOf(request).userId, request.params.id, request.body.name, request.ip),
  );

  app.delete('/api/me/passkeys/:id', { schema: { params: IdParam, response: { 200: Ok } }, config: change }, async (request) => {
    await passkeys.remove(principalOf(request).userId, request.params.id, request.ip);
    return { ok: true as const };
  });
};

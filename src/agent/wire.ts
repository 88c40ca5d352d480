import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';

/**
 * The server's answers as the agent reads them (docs/protocol.md).
 * Checked before use: a compromised or confused server must not be able to put
 * odd values into the identity file or the loop.
 */
const Base64url = (bytes: number) => Type.String({ pattern: `^[A-Za-z0-9_-]{${Math.ceil((bytes * 4) / 3)}}$` });

export const EnrollAnswerSchema = Type.Object({
  agentId: Type.String({ pattern: '^[0-9a-f-]{1,64}$' }),
  apiKey: Type.String({ pattern: '^fla_[A-Za-z0-9_-]{1,250}$' }),
  kid: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }),
  sealingKey: Base64url(32),
  commandPublicKey: Base64url(32),
  intervalSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
});
export type EnrollAnswer = Static<typeof EnrollAnswerSchema>;

export const RekeySchema = Type.Object({
  kid: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }),
  nonce: Type.String({ maxLength: 64 }),
  ct: Type.String({ maxLength: 256 }),
});

export const ReportAnswerSchema = Type.Object({
  accepted: Type.Integer({ minimum: 0 }),
  commands: Type.Array(Type.Unknown(), { maxItems: 1000 }),
  intervalSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
  rekey: Type.Optional(RekeySchema),
});
export type ReportAnswer = Static<typeof ReportAnswerSchema>;

export function parseEnrollAnswer(body: unknown): EnrollAnswer | null {
  return Value.Check(EnrollAnswerSchema, body) ? (body as EnrollAnswer) : null;
}

export function parseReportAnswer(body: unknown): ReportAnswer | null {
  return Value.Check(ReportAnswerSchema, body) ? (body as ReportAnswer) : null;
}

/** `{"error":{"code"}}` of a refusal, or null. */
export function errorCodeOf(body: unknown): string | null {
  if (typeof body !== 'object' || body === null) return null;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return null;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code.slice(0, 64) : null;
}

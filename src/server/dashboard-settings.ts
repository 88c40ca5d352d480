import { createHash, X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Type } from 'typebox';

export const DashboardSettingsSchema = Type.Object(
  {
    /** `sha256:<hex>` of the certificate this connection presented when it is self-signed (agents must pin it); null when a CA issued it. */
    serverPin: Type.Union([Type.String(), Type.Null()]),
    /** The server's idle timeout, so the dashboard signs out at the same moment. */
    sessionTimeoutSeconds: Type.Integer(),
  },
  { additionalProperties: false },
);

const selfSignedByFingerprint = new Map<string, boolean>();

/**
 * The pin for `flotilla agent enroll --pin`, read from the certificate this very
 * connection used, so it is right after a renewal and matches what the server
 * prints (`sha256:` + hex SHA-256 of the DER).
 */
function serverPinOf(request: FastifyRequest): string | null {
  const socket = request.raw.socket as Partial<TLSSocket>;
  const cert = typeof socket.getCertificate === 'function' ? socket.getCertificate() : null;
  const raw = cert && 'raw' in cert ? cert.raw : undefined;
  if (!raw || !Buffer.isBuffer(raw)) return null;
  const pin = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
  let selfSigned = selfSignedByFingerprint.get(pin);
  if (selfSigned === undefined) {
    const cert = new X509Certificate(raw);
    // Signed by its own key under its own name (checkIssued also wants CA key usage, which a leaf lacks).
    selfSigned = cert.subject === cert.issuer && cert.verify(cert.publicKey);
    if (selfSignedByFingerprint.size > 16) selfSignedByFingerprint.clear();
    selfSignedByFingerprint.set(pin, selfSigned);
  }
  return selfSigned ? pin : null;
}

/** What the dashboard needs to know about this server: the enrollment pin and the idle timeout. */
export const dashboardSettingsRoutes: FastifyPluginAsync<{ sessionTimeoutSeconds: number }> = async (app, { sessionTimeoutSeconds }) => {
  app.get(
    '/api/dashboard/settings',
    {
      schema: { response: { 200: DashboardSettingsSchema } },
      config: { policy: { auth: 'user', role: 'viewer', scope: 'account', allowDuringPasswordChange: true, allowDuringMfaEnrollment: true, decoySafe: true } },
    },
    async (request) => ({ serverPin: serverPinOf(request), sessionTimeoutSeconds }),
  );
};

import { Type } from 'typebox';
import { EmptyBody, IdParam, ListQuery, Ok, PageOf, strict } from '../../protocol/http-schemas.js';
import { RoleSchema } from '../roles.js';
import { UserViewSchema } from '../users/view.js';

export { EmptyBody, IdParam, ListQuery, Ok };


export const Username = Type.String({ minLength: 1, maxLength: 1024 });
export const Password = Type.String({ minLength: 1, maxLength: 1024 });
export const SessionParams = Type.Object({ id: Type.String({ format: 'uuid' }), sid: Type.String({ format: 'uuid' }) }, strict);

export const UserSchema = UserViewSchema;

export const SessionSchema = Type.Object(
  {
    id: Type.String(),
    ip: Type.Union([Type.String(), Type.Null()]),
    userAgent: Type.Union([Type.String(), Type.Null()]),
    amr: Type.Array(Type.String()),
    createdAt: Type.Integer(),
    lastSeenAt: Type.Integer(),
    expiresAt: Type.Integer(),
    current: Type.Boolean(),
  },
  strict,
);

export const Credentials = Type.Object({ username: Username, password: Password }, strict);

export const LoginSession = Type.Object({ user: UserSchema, csrfToken: Type.String(), passwordChangeRequired: Type.Boolean() }, strict);

export const TokenSession = Type.Object(
  { accessToken: Type.String(), refreshToken: Type.String(), expiresIn: Type.Integer(), passwordChangeRequired: Type.Boolean() },
  strict,
);

/** The password was right; a second factor is due (docs/api.md). */
export const MfaChallenge = Type.Object(
  {
    mfaRequired: Type.Literal(true),
    mfaTicket: Type.String(),
    methods: Type.Array(Type.Union([Type.Literal('totp'), Type.Literal('backup'), Type.Literal('webauthn')])),
  },
  strict,
);

export const LoginResponse = Type.Union([LoginSession, MfaChallenge]);
export const TokenResponse = Type.Union([TokenSession, MfaChallenge]);

const Ticket = Type.String({ minLength: 1, maxLength: 128 });
export const MfaCodeBody = Type.Object({ mfaTicket: Ticket, code: Type.String({ minLength: 1, maxLength: 64 }) }, strict);

export const RefreshBody = Type.Object({ refreshToken: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })) }, strict);

export const RefreshResponse = Type.Object(
  {
    expiresIn: Type.Integer(),
    csrfToken: Type.Optional(Type.String()),
    accessToken: Type.Optional(Type.String()),
    refreshToken: Type.Optional(Type.String()),
  },
  strict,
);

export const PasswordChange = Type.Object({ currentPassword: Password, newPassword: Password }, strict);

export const PasswordChangeResponse = Type.Object(
  {
    user: UserSchema,
    csrfToken: Type.Optional(Type.String()),
    accessToken: Type.Optional(Type.String()),
    refreshToken: Type.Optional(Type.String()),
    expiresIn: Type.Integer(),
  },
  strict,
);

export const CreateUser = Type.Object({ username: Username, password: Password, role: RoleSchema }, strict);
export const PatchUser = Type.Object(
  { role: Type.Optional(RoleSchema), status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('suspended')])) },
  { ...strict, minProperties: 1 },
);
export const ResetPassword = Type.Object({ password: Password }, strict);

export const UserPage = PageOf(UserSchema);
export const SessionList = Type.Object({ items: Type.Array(SessionSchema), next: Type.Null() }, strict);

// --- second factors ---------------------------------------------------------

export const MfaStatusSchema = Type.Object({ totp: Type.Boolean(), backupCodesRemaining: Type.Integer(), passkeys: Type.Integer() }, strict);
export const TotpSetupResponse = Type.Object({ otpauthUri: Type.String(), qrSvg: Type.String(), manualEntryKey: Type.String() }, strict);
export const TotpCode = Type.Object({ code: Type.String({ minLength: 1, maxLength: 16 }) }, strict);

/** Fields of a session whose tokens were reissued after it gained a second factor. */
const Upgraded = {
  csrfToken: Type.Optional(Type.String()),
  accessToken: Type.Optional(Type.String()),
  refreshToken: Type.Optional(Type.String()),
  expiresIn: Type.Optional(Type.Integer()),
};
export const BackupCodesResponse = Type.Object({ backupCodes: Type.Array(Type.String()), ...Upgraded }, strict);

export const PasskeySchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    deviceType: Type.String(),
    backedUp: Type.Boolean(),
    transports: Type.Array(Type.String()),
    createdAt: Type.Integer(),
    lastUsedAt: Type.Union([Type.Integer(), Type.Null()]),
  },
  strict,
);
export const PasskeyList = Type.Object({ items: Type.Array(PasskeySchema), next: Type.Null() }, strict);
export const PasskeyName = Type.String({ minLength: 1, maxLength: 64 });
export const RenamePasskey = Type.Object({ name: PasskeyName }, strict);
export const PasskeyRegistered = Type.Object({ passkey: PasskeySchema, ...Upgraded }, strict);

const B64 = (maxLength: number) => Type.String({ minLength: 1, maxLength, pattern: '^[A-Za-z0-9_-]+={0,2}$' });
const Transports = Type.Array(Type.String({ maxLength: 32 }), { maxItems: 8 });
const CredentialBase = {
  id: B64(1400),
  rawId: B64(1400),
  type: Type.Literal('public-key'),
  authenticatorAttachment: Type.Optional(Type.Union([Type.Literal('platform'), Type.Literal('cross-platform')])),
  clientExtensionResults: Type.Object({}, { additionalProperties: true, maxProperties: 16 }),
};
/** navigator.credentials.create() as JSON (PublicKeyCredential.toJSON()). */
export const RegistrationCredential = Type.Object(
  {
    ...CredentialBase,
    response: Type.Object(
      {
        clientDataJSON: B64(8192),
        attestationObject: B64(32768),
        authenticatorData: Type.Optional(B64(32768)),
        transports: Type.Optional(Transports),
        publicKeyAlgorithm: Type.Optional(Type.Integer()),
        publicKey: Type.Optional(B64(8192)),
      },
      strict,
    ),
  },
  strict,
);
/** navigator.credentials.get() as JSON. */
export const AssertionCredential = Type.Object(
  {
    ...CredentialBase,
    response: Type.Object(
      {
        clientDataJSON: B64(8192),
        authenticatorData: B64(8192),
        signature: B64(2048),
        userHandle: Type.Optional(B64(512)),
      },
      strict,
    ),
  },
  strict,
);
export const RegisterPasskeyBody = Type.Object({ response: RegistrationCredential, name: Type.Optional(PasskeyName) }, strict);
export const PasskeyLoginOptionsBody = Type.Object({ mfaTicket: Type.Optional(Ticket) }, strict);
export const PasskeyLoginBody = Type.Object({ response: AssertionCredential, mfaTicket: Type.Optional(Ticket) }, strict);

const CredentialDescriptor = Type.Object({ id: Type.String(), type: Type.String(), transports: Type.Optional(Type.Array(Type.String())) }, strict);
/** PublicKeyCredentialCreationOptionsJSON, for navigator.credentials.create(). */
export const RegistrationOptions = Type.Object(
  {
    challenge: Type.String(),
    rp: Type.Object({ name: Type.String(), id: Type.Optional(Type.String()) }, strict),
    user: Type.Object({ id: Type.String(), name: Type.String(), displayName: Type.String() }, strict),
    pubKeyCredParams: Type.Array(Type.Object({ alg: Type.Integer(), type: Type.String() }, strict)),
    timeout: Type.Optional(Type.Integer()),
    attestation: Type.Optional(Type.String()),
    excludeCredentials: Type.Optional(Type.Array(CredentialDescriptor)),
    authenticatorSelection: Type.Optional(
      Type.Object(
        {
          authenticatorAttachment: Type.Optional(Type.String()),
          residentKey: Type.Optional(Type.String()),
          requireResidentKey: Type.Optional(Type.Boolean()),
          userVerification: Type.Optional(Type.String()),
        },
        strict,
      ),
    ),
    extensions: Type.Optional(Type.Object({ credProps: Type.Optional(Type.Boolean()) }, strict)),
    hints: Type.Optional(Type.Array(Type.String())),
  },
  strict,
);
/** PublicKeyCredentialRequestOptionsJSON, for navigator.credentials.get(). */
export const AuthenticationOptions = Type.Object(
  {
    challenge: Type.String(),
    rpId: Type.Optional(Type.String()),
    timeout: Type.Optional(Type.Integer()),
    allowCredentials: Type.Optional(Type.Array(CredentialDescriptor)),
    userVerification: Type.Optional(Type.String()),
    hints: Type.Optional(Type.Array(Type.String())),
  },
  strict,
);

// --- step-up ----------------------------------------------------------------

/** Exactly one proof: the password, a TOTP or backup code, or a passkey assertion. */
export const ReauthBody = Type.Union([
  Type.Object({ password: Password }, strict),
  Type.Object({ code: Type.String({ minLength: 1, maxLength: 64 }) }, strict),
  Type.Object({ passkey: AssertionCredential }, strict),
]);
export const ReauthResponse = Type.Object({ ok: Type.Literal(true), validUntil: Type.Integer() }, strict);

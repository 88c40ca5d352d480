import { Type } from 'typebox';

const strict = { additionalProperties: false } as const;

export const Username = Type.String({ minLength: 1, maxLength: 1024 });
export const Password = Type.String({ minLength: 1, maxLength: 1024 });
export const RoleSchema = Type.Union([Type.Literal('admin'), Type.Literal('operator'), Type.Literal('viewer')]);
export const IdParam = Type.Object({ id: Type.String({ format: 'uuid' }) }, strict);
export const SessionParams = Type.Object({ id: Type.String({ format: 'uuid' }), sid: Type.String({ format: 'uuid' }) }, strict);
export const ListQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
  },
  strict,
);

export const UserSchema = Type.Object(
  {
    id: Type.String(),
    username: Type.String(),
    role: Type.String(),
    status: Type.String(),
    passwordChangeRequired: Type.Boolean(),
    createdAt: Type.Integer(),
    updatedAt: Type.Integer(),
  },
  strict,
);

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

export const LoginResponse = Type.Object({ user: UserSchema, csrfToken: Type.String(), passwordChangeRequired: Type.Boolean() }, strict);

export const TokenResponse = Type.Object(
  { accessToken: Type.String(), refreshToken: Type.String(), expiresIn: Type.Integer(), passwordChangeRequired: Type.Boolean() },
  strict,
);

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

export const Ok = Type.Object({ ok: Type.Literal(true) }, strict);
export const UserPage = Type.Object({ items: Type.Array(UserSchema), next: Type.Union([Type.String(), Type.Null()]) }, strict);
export const SessionList = Type.Object({ items: Type.Array(SessionSchema), next: Type.Null() }, strict);

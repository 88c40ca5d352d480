/** RFC 6750 `b64token` characters, bounded: anything else is no bearer credential at all. */
const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]{1,4096})$/;

/** The token of an `Authorization: Bearer <token>` header, or null. The one parser every check uses. */
export function bearerToken(header: string | string[] | undefined): string | null {
  if (typeof header !== 'string') return null;
  return BEARER.exec(header)?.[1] ?? null;
}

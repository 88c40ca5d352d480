/** A failure the client may see: stable code, HTTP status and a safe message. */
export interface ErrorSpec {
  readonly status: number;
  readonly message: string;
}
export type ErrorTable = Record<string, ErrorSpec>;

export class DomainError extends Error {
  readonly code: string;
  readonly status: number;
  /** Extra response headers (e.g. Retry-After). */
  readonly headers: Record<string, string>;

  constructor(code: string, spec: ErrorSpec, options: { cause?: unknown; message?: string; headers?: Record<string, string> } = {}) {
    super(options.message ?? spec.message, { cause: options.cause });
    this.name = 'DomainError';
    this.code = code;
    this.status = spec.status;
    this.headers = options.headers ?? {};
  }
}

/** Builds a typed error factory for one domain's table. */
export function errorFactory<T extends ErrorTable>(table: T) {
  return (code: keyof T & string, options?: { cause?: unknown; message?: string; headers?: Record<string, string> }): DomainError =>
    new DomainError(code, table[code] as ErrorSpec, options);
}

/** Errors that belong to no single domain. */
export const commonErrors = {
  not_found: { status: 404, message: 'no such resource' },
  invalid_body: { status: 400, message: 'the request body is invalid' },
  invalid_json: { status: 400, message: 'the request body is not valid JSON' },
  unsupported_media_type: { status: 415, message: 'send the body as application/json' },
  payload_too_large: { status: 413, message: 'the request body is too large' },
  unauthorized: { status: 401, message: 'authentication required' },
  forbidden: { status: 403, message: 'your role does not allow this' },
  conflict: { status: 409, message: 'the resource already exists' },
  unavailable: { status: 503, message: 'a backing service is unavailable; try again shortly' },
  internal: { status: 500, message: 'internal error' },
} as const satisfies ErrorTable;

export const commonError = errorFactory(commonErrors);

import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, commonErrors } from '../lib/errors.js';

interface ErrorBody {
  error: { code: string; message: string };
}

const body = (code: string, message: string): ErrorBody => ({ error: { code, message } });

/** Fastify's own failures, mapped to our codes with messages a person can act on. */
const FASTIFY_CODES: Record<string, { status: number; code: string; message: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type', message: commonErrors.unsupported_media_type.message },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'payload_too_large', message: commonErrors.payload_too_large.message },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'invalid_json', message: commonErrors.invalid_json.message },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'invalid_json', message: 'the request body is empty; send a JSON object' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'invalid_request', message: 'the Content-Length header does not match the body' },
};

function validationMessage(error: FastifyError): string {
  const first = error.validation?.[0];
  if (!first) return commonErrors.invalid_body.message;
  const params = first.params as Record<string, unknown>;
  const path = `${error.validationContext ?? 'body'}${first.instancePath.replaceAll('/', '.')}`;
  if (typeof params.additionalProperty === 'string') return `${path}: unknown field "${params.additionalProperty.slice(0, 64)}"`;
  if (typeof params.missingProperty === 'string') return `${path}.${params.missingProperty}: required`;
  return `${path}: ${first.message ?? 'invalid'}`;
}

/**
 * The single error handler. Domain errors carry their own safe message; schema
 * failures name the field; anything unexpected is a bare 500 whose detail only
 * goes to the log.
 */
export function handleError(error: FastifyError | DomainError | Error, request: FastifyRequest, reply: FastifyReply): ErrorBody {
  if (error instanceof DomainError) {
    reply.code(error.status).headers(error.headers);
    if (error.status >= 500) request.log.error({ err: error.cause ?? error }, error.code);
    return body(error.code, error.message);
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    const context = fastifyError.validationContext ?? 'body';
    reply.code(400);
    return body(context === 'body' ? 'invalid_body' : `invalid_${context === 'querystring' ? 'query' : context}`, validationMessage(fastifyError));
  }
  const known = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (known) {
    reply.code(known.status);
    return body(known.code, known.message);
  }
  if (error instanceof SyntaxError || fastifyError.statusCode === 400) {
    reply.code(400);
    return body('invalid_request', 'the request could not be parsed');
  }
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    reply.code(fastifyError.statusCode);
    return body('invalid_request', 'the request was refused');
  }
  request.log.error({ err: error }, 'unhandled error');
  reply.code(500);
  return body('internal', commonErrors.internal.message);
}

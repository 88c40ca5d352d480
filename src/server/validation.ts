import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import { nulPath } from '../lib/nul.js';

/**
 * Bodies are strict: no type coercion and no silent stripping, so an unknown
 * field or a wrong type is a 400 (Fastify's defaults coerce and strip).
 * Query strings and path params arrive as text, so only they are coerced.
 */
function ajvWith(coerceTypes: boolean): Ajv {
  const ajv = new Ajv({ coerceTypes, removeAdditional: false, useDefaults: true, allErrors: false, strict: false });
  (addFormats as unknown as (ajv: Ajv) => void)(ajv);
  return ajv;
}

const strict = ajvWith(false);
const coercing = ajvWith(true);

/** A schema's validator that also refuses any string holding a NUL (lib/nul.ts), naming where. */
function refusingNul(validate: ValidateFunction): ValidateFunction {
  const checked = ((data: unknown, context?: Parameters<ValidateFunction>[1]): boolean => {
    if (!validate(data, context)) {
      checked.errors = validate.errors;
      return false;
    }
    const at = nulPath(data);
    checked.errors = at === null ? null : [{ instancePath: at, schemaPath: '#', keyword: 'nul', params: {}, message: 'must not contain a NUL character' }];
    return at === null;
  }) as ValidateFunction;
  // Fastify passes the parent to a validator with a schemaEnv, so coercion can replace a root value.
  checked.schemaEnv = validate.schemaEnv;
  checked.schema = validate.schema;
  return checked;
}

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  refusingNul((httpPart === 'body' ? strict : coercing).compile(schema as object)) as ReturnType<FastifySchemaCompiler<unknown>>;

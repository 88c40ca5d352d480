/**
 * The HTTP schemas every domain's routes share, so an id parameter, an empty
 * body, an `{ok: true}` answer, a page and the error body are one definition.
 */
import { Type, type TSchema } from 'typebox';

/** Objects refuse fields they do not name. */
export const strict = { additionalProperties: false } as const;

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const IdParam = Type.Object({ id: Type.String({ format: 'uuid' }) }, strict);

/** Routes that take no input still refuse a body that is not an empty object. */
export const EmptyBody = Type.Object({}, strict);

export const Ok = Type.Object({ ok: Type.Literal(true) }, strict);

/** `limit` and the opaque `cursor` of the previous page's `next`. */
export const ListQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  },
  strict,
);

/** `{items, next}`: next is the cursor of the following page, null at the end. */
export const PageOf = <T extends TSchema>(item: T) => Type.Object({ items: Type.Array(item), next: Nullable(Type.String()) }, strict);

/** The one error body: `{"error": {"code", "message"}}`. */
export const ErrorSchema = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }, strict) }, strict);

export { ErrorSchema } from '../protocol/http-schemas.js';

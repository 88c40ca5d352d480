/** Shapes of the audit and perimeter admin APIs, from the generated route types. */
import type { Answer } from './types.js';

export type AuditEntry = Answer<'GET /api/admin/audit'>['items'][number];
export type VerifyResult = Answer<'GET /api/admin/audit/verify'>;
export type IpBlock = Answer<'GET /api/admin/security/blocks'>['items'][number];

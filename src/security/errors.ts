import { errorFactory, type ErrorTable } from '../lib/errors.js';

/** The security domain's refusals: stable codes, statuses and messages safe for any client. */
export const securityErrors = {
  invalid_cursor: { status: 400, message: 'the cursor is not valid for this list' },
  invalid_range: { status: 400, message: 'from must not be after to' },
  unauthorized: { status: 401, message: 'authentication required' },
} as const satisfies ErrorTable;

export const securityError = errorFactory(securityErrors);

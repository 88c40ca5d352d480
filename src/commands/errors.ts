import { errorFactory, type ErrorTable } from '../lib/errors.js';

/** Every refusal of the commands domain. */
export const commandErrors = {
  // Same code and message as identity's, so every bad credential reads the same.
  unauthorized: { status: 401, message: 'authentication required' },
  forbidden: { status: 403, message: 'your role does not allow this' },
  invalid_params: { status: 400, message: 'the params do not fit the action' },
  ttl_too_long: { status: 400, message: 'ttlSeconds is above commands.maxTtlSeconds' },
  invalid_query: { status: 400, message: 'the query is invalid' },
  invalid_cursor: { status: 400, message: 'the cursor is invalid; start again without it' },
  too_many_targets: { status: 400, message: 'the command targets more machines than commands.maxTargets' },
  machine_not_found: { status: 404, message: 'no such machine' },
  no_targets: { status: 409, message: 'no enrolled, active machine matches the targets' },
  request_not_found: { status: 404, message: 'no such command request' },
  own_request: { status: 403, message: 'a request needs the decision of an admin other than its requester' },
  already_decided: { status: 409, message: 'you have already decided on this request' },
  not_pending: { status: 409, message: 'the request is not waiting for approval' },
  approval_expired: { status: 409, message: 'the approval window of this request has passed' },
  already_delivered: { status: 409, message: 'a machine has already received this command; it can no longer be cancelled' },
  not_cancellable: { status: 409, message: 'the request is already finished' },
  command_not_found: { status: 404, message: 'no such command' },
  command_finished: { status: 409, message: 'a final result is already stored for this command' },
  command_not_delivered: { status: 409, message: 'this command was never delivered' },
  seal_invalid: { status: 400, message: 'the sealed envelope does not open: unknown key version, wrong key, or damaged' },
  stale_timestamp: { status: 400, message: 'the envelope timestamp is outside the accepted window; re-seal it with the current time' },
  replay: { status: 409, message: 'this sequence number is not above the last accepted one' },
  invalid_result: { status: 400, message: 'the result does not match the schema' },
} as const satisfies ErrorTable;

export type CommandErrorCode = keyof typeof commandErrors;
export const commandError = errorFactory(commandErrors);

import { errorFactory, type ErrorTable } from '../lib/errors.js';

/** Every refusal of the fleet domain (docs/protocol.md). */
export const fleetErrors = {
  // Same code and message as identity's, so every bad credential reads the same.
  unauthorized: { status: 401, message: 'authentication required' },
  enrollment_refused: { status: 401, message: 'the enrollment token is invalid, expired, used up or revoked' },
  seal_invalid: { status: 400, message: 'the sealed envelope does not open: unknown key version, wrong key, or damaged' },
  seal_required: { status: 400, message: 'this server accepts sealed reports only' },
  stale_timestamp: { status: 400, message: 'the envelope timestamp is outside the accepted window; re-seal it with the current time' },
  replay: { status: 409, message: 'this sequence number is not above the last accepted one' },
  invalid_body: { status: 400, message: 'the report does not match the schema' },
  invalid_query: { status: 400, message: 'the query is invalid' },
  invalid_cursor: { status: 400, message: 'the cursor is invalid; start again without it' },
  machine_not_found: { status: 404, message: 'no such machine' },
  agent_not_found: { status: 404, message: 'no such agent' },
  agent_revoked: { status: 409, message: 'the agent is revoked' },
  enrollment_token_not_found: { status: 404, message: 'no such enrollment token' },
  session_stream_limit: { status: 429, message: 'this session has the most live event streams allowed open; close one (another tab or window) first' },
  user_stream_limit: { status: 429, message: 'this user has the most live event streams allowed open; close one in another session first' },
  upgrade_required: { status: 426, message: 'open the agent channel as a WebSocket upgrade' },
  too_many_streams: { status: 503, message: 'too many live event streams on this node; try again later' },
} as const satisfies ErrorTable;

export type FleetErrorCode = keyof typeof fleetErrors;
export const fleetError = errorFactory(fleetErrors);

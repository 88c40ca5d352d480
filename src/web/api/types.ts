/**
 * The JSON shapes the dashboard reads, named. Each is taken from the types
 * generated from the server's OpenAPI document (generated.ts), so a change to
 * a response schema shows up here as a type error, not as a surprise in a page.
 */
import type { ApiRoutes } from './generated.js';

/** The success answer of one route, e.g. `Answer<'GET /api/me'>`. */
export type Answer<Route extends keyof ApiRoutes> = ApiRoutes[Route]['response'];

export interface Page<T> {
  items: T[];
  next: string | null;
}

export type User = Answer<'GET /api/me'>['user'];
export type Role = User['role'];

export type LoginAnswer = Answer<'POST /api/auth/login'>;
export type MfaChallenge = Extract<LoginAnswer, { mfaRequired: true }>;
export type LoginSuccess = Exclude<LoginAnswer, MfaChallenge>;
export type PasswordChanged = Answer<'POST /api/me/password'>;
export type Session = Answer<'GET /api/me/sessions'>['items'][number];
export type DashboardSettings = Answer<'GET /api/dashboard/settings'>;

export type FleetSummary = Answer<'GET /api/fleet/summary'>;
export type MachineRow = Answer<'GET /api/fleet/machines'>['items'][number];
export type MachineStatus = MachineRow['status'];
export type MachineDetail = Answer<'GET /api/fleet/machines/{id}'>;
export type Facts = MachineDetail['facts'];
export type LatestReport = NonNullable<MachineDetail['latest']>;
export type ProcessInfo = NonNullable<NonNullable<LatestReport['processes']>['topCpu']>[number];
export type History = Answer<'GET /api/fleet/machines/{id}/history'>;
export type HistoryMetric = History['metric'];
export type TagCount = Answer<'GET /api/fleet/tags'>['items'][number];

export type EnrollmentToken = Answer<'GET /api/admin/enrollment-tokens'>['items'][number];
export type CreatedEnrollmentToken = Answer<'POST /api/admin/enrollment-tokens'>;
export type Agent = Answer<'GET /api/admin/agents'>['items'][number];

export type CommandRequest = Answer<'GET /api/commands'>['items'][number];
export type CommandAction = CommandRequest['action'];
export type CommandRequestState = CommandRequest['state'];
export type CommandTarget = CommandRequest['target'];
export type CommandDetail = Answer<'GET /api/commands/{id}'>;
export type CommandProgress = CommandDetail['progress'];
export type CommandState = CommandDetail['machines'][number]['state'];
export type CommandResult = Answer<'GET /api/commands/{id}/results'>['items'][number];
export type MachineCommand = Answer<'GET /api/fleet/machines/{id}/commands'>['items'][number];

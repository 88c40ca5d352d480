import { Compile } from 'typebox/compile';
import { COMMAND_ACTIONS, EmptyParamsSchema, RunScriptParamsSchema, type CommandAction, type RunScriptParams } from '../protocol/command-result.js';
import { commandError } from './errors.js';

export const ACTIONS = COMMAND_ACTIONS;
export type Action = CommandAction;
export type Risk = 'low' | 'high';
export type { RunScriptParams };

/**
 * The server's catalog: each action's risk and params. High-risk actions
 * change or run something on the machine, so they wait for other admins'
 * approval; low-risk ones only read and are approved by their requester.
 */
const CATALOG: Record<Action, { risk: Risk; params: ReturnType<typeof Compile> }> = {
  ping: { risk: 'low', params: Compile(EmptyParamsSchema) },
  collect: { risk: 'low', params: Compile(EmptyParamsSchema) },
  diagnostics: { risk: 'low', params: Compile(EmptyParamsSchema) },
  restart_agent: { risk: 'high', params: Compile(EmptyParamsSchema) },
  run_script: { risk: 'high', params: Compile(RunScriptParamsSchema) },
};

export function isAction(value: string): value is Action {
  return (ACTIONS as readonly string[]).includes(value);
}

export function riskOf(action: Action): Risk {
  return CATALOG[action].risk;
}

/** The params, checked against the action's schema (400 invalid_params otherwise). */
export function checkParams(action: Action, params: Record<string, unknown>): Record<string, unknown> {
  const validator = CATALOG[action].params;
  if (validator.Check(params)) return params;
  const first = validator.Errors(params)[0];
  const where = first ? `params${first.instancePath.replaceAll('/', '.')}: ${first.message}` : 'params do not match';
  throw commandError('invalid_params', { message: `${action}: ${where}`.slice(0, 300) });
}

/** The script hash of run_script params, else null. */
export function scriptShaOf(action: Action, params: Record<string, unknown>): string | null {
  return action === 'run_script' && typeof params.sha256 === 'string' ? params.sha256 : null;
}

/** What a viewer may see of params: everything but a script's arguments. */
export function paramsForViewer(params: Record<string, unknown>): Record<string, unknown> {
  const { args: _args, ...rest } = params;
  return rest;
}

import { isAbsolute } from 'node:path';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { readTrustedFile, UntrustedFileError } from './trusted-file.js';

/**
 * The host's own answer to "what may the server make this machine do"
 * (docs/protocol.md "Agent policy"). Deny by default: an action without an
 * entry is refused, and without a policy file only `ping` is allowed.
 */
export const DEFAULT_POLICY_FILE = '/etc/flotilla/agent-policy.json';
export const DEFAULT_TIMEOUT_SECONDS = 300;
export const DEFAULT_MAX_TIMEOUT_SECONDS = 3600;
const MAX_POLICY_BYTES = 1024 * 1024;

const AbsolutePath = Type.String({ minLength: 1, maxLength: 4096, pattern: '^/' });
const Seconds = Type.Integer({ minimum: 1, maximum: 86_400 });
/** "none", "any", or a list of allowed arguments; an entry ending in `*` allows any argument starting with the rest. */
const ArgsRule = Type.Union([Type.Literal('none'), Type.Literal('any'), Type.Array(Type.String({ minLength: 1, maxLength: 1024 }), { maxItems: 1000 })]);
const SimpleAction = Type.Object({ timeoutSeconds: Type.Optional(Seconds) }, { additionalProperties: false });

const PolicyFileSchema = Type.Object(
  {
    maxTimeoutSeconds: Type.Optional(Seconds),
    actions: Type.Object(
      {
        ping: Type.Optional(SimpleAction),
        collect: Type.Optional(SimpleAction),
        diagnostics: Type.Optional(SimpleAction),
        restart_agent: Type.Optional(SimpleAction),
        run_script: Type.Optional(
          Type.Object(
            {
              timeoutSeconds: Type.Optional(Seconds),
              workingDirectory: Type.Optional(AbsolutePath),
              scripts: Type.Optional(
                Type.Array(
                  Type.Object({ path: AbsolutePath, sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }), args: Type.Optional(ArgsRule) }, { additionalProperties: false }),
                  { maxItems: 1000 },
                ),
              ),
              directories: Type.Optional(Type.Array(Type.Object({ path: AbsolutePath, args: Type.Optional(ArgsRule) }, { additionalProperties: false }), { maxItems: 100 })),
            },
            { additionalProperties: false },
          ),
        ),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
type PolicyFile = Static<typeof PolicyFileSchema>;
export type ArgsRuleSpec = Static<typeof ArgsRule>;

export type PolicyAction = 'ping' | 'collect' | 'diagnostics' | 'restart_agent' | 'run_script';

export interface AllowedScript {
  path: string;
  sha256: string;
  args: ArgsRuleSpec;
}

export interface AllowedDirectory {
  path: string;
  args: ArgsRuleSpec;
}

/** The policy as the agent applies it: defaults filled in, timeouts capped. */
export interface EffectivePolicy {
  /** The file it came from, or null when there is none (only `ping`). */
  source: string | null;
  maxTimeoutSeconds: number;
  actions: Partial<Record<PolicyAction, { timeoutSeconds: number }>>;
  runScript: { workingDirectory: string; scripts: AllowedScript[]; directories: AllowedDirectory[] } | null;
}

export class PolicyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PolicyError';
  }
}

export interface PolicyLocation {
  file: string;
  /** True when the path was given (--policy, FLOTILLA_AGENT_POLICY): then it must exist. */
  explicit: boolean;
}

/** `--policy`, else FLOTILLA_AGENT_POLICY, else the default path. */
export function policyLocation(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): PolicyLocation {
  const given = flag ?? env.FLOTILLA_AGENT_POLICY;
  return given ? { file: given, explicit: true } : { file: DEFAULT_POLICY_FILE, explicit: false };
}

/**
 * Loads and checks the policy; throws PolicyError (the agent refuses to start)
 * when the file or its directory could be changed by anyone but `ownerUid`, is
 * a symlink, or does not parse. A missing default file means only `ping`.
 */
export async function loadPolicy(location: PolicyLocation, ownerUid = 0): Promise<EffectivePolicy> {
  if (!isAbsolute(location.file)) throw new PolicyError(`the policy path must be absolute: ${location.file}`);
  let text: Buffer;
  try {
    text = await readTrustedFile(location.file, ownerUid, MAX_POLICY_BYTES);
  } catch (err) {
    if (err instanceof UntrustedFileError) throw new PolicyError(`refusing the agent policy: ${err.message}`, { cause: err });
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    if (code === 'ENOENT' && !location.explicit) return pingOnlyPolicy();
    throw new PolicyError(`cannot read the agent policy ${location.file} (${code})`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.toString('utf8'));
  } catch {
    throw new PolicyError(`the agent policy ${location.file} is not valid JSON`);
  }
  if (!Value.Check(PolicyFileSchema, parsed)) {
    const first = Value.Errors(PolicyFileSchema, parsed)[0];
    throw new PolicyError(`the agent policy ${location.file} is invalid${first ? ` at ${first.instancePath || '/'}: ${first.message}` : ''}`);
  }
  return effective(location.file, parsed as PolicyFile);
}

function pingOnlyPolicy(): EffectivePolicy {
  return { source: null, maxTimeoutSeconds: DEFAULT_MAX_TIMEOUT_SECONDS, actions: { ping: { timeoutSeconds: DEFAULT_TIMEOUT_SECONDS } }, runScript: null };
}

function effective(source: string, file: PolicyFile): EffectivePolicy {
  const max = file.maxTimeoutSeconds ?? DEFAULT_MAX_TIMEOUT_SECONDS;
  const timeout = (t: number | undefined) => Math.min(t ?? DEFAULT_TIMEOUT_SECONDS, max);
  const actions: EffectivePolicy['actions'] = {};
  for (const [name, entry] of Object.entries(file.actions) as Array<[PolicyAction, { timeoutSeconds?: number } | undefined]>) {
    if (entry) actions[name] = { timeoutSeconds: timeout(entry.timeoutSeconds) };
  }
  const rs = file.actions.run_script;
  return {
    source,
    maxTimeoutSeconds: max,
    actions,
    runScript: rs
      ? {
          workingDirectory: rs.workingDirectory ?? '/',
          scripts: (rs.scripts ?? []).map((s) => ({ path: s.path, sha256: s.sha256, args: s.args ?? 'none' })),
          directories: (rs.directories ?? []).map((d) => ({ path: d.path, args: d.args ?? 'none' })),
        }
      : null,
  };
}

/** Whether every argument passes the rule: exact entries, or `prefix*` entries. */
export function argsAllowed(rule: ArgsRuleSpec, args: readonly string[]): boolean {
  if (rule === 'any') return true;
  if (rule === 'none') return args.length === 0;
  return args.every((arg) => rule.some((entry) => (entry.endsWith('*') ? arg.startsWith(entry.slice(0, -1)) : arg === entry)));
}

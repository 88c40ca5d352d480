import { MAX_RESULT_OUTPUT_BYTES, ROTATE_SIGNING_KEY, type FinalResult, type RefusalReason, type RunScriptParams } from '../protocol/command-result.js';
import { isCommandPublicKey, type SignedCommand } from '../protocol/signing.js';
import type { Clock } from '../lib/clock.js';
import type { CommandGate } from './commands.js';
import type { AgentState } from './identity.js';
import type { AgentLog } from './log.js';
import type { EffectivePolicy, PolicyAction } from './policy.js';
import type { ResultSender } from './result-sender.js';
import { builtinResult, finalResult } from './results.js';
import { runProcess } from './run-process.js';
import { findAllowedScript, verifyScript } from './scripts.js';

/** Commands waiting for their turn; one more is refused 'busy'. */
export const MAX_QUEUED = 32;

export interface BuiltinActions {
  /** Measures and queues a report now; returns a line for the output. */
  collect(): Promise<string>;
  diagnostics(): string;
  /** Called once the final result of restart_agent is queued. */
  restart(): void;
}

export interface CommandRunnerOptions {
  gate: CommandGate;
  state: AgentState;
  policy: EffectivePolicy;
  /** Who must own the policy's scripts and their directories (root). */
  policyOwnerUid: number;
  results: ResultSender;
  builtins: BuiltinActions;
  clock: Clock;
  log: AgentLog;
  killGraceMs?: number;
  /** Told each process group id as a script starts. */
  onSpawn?: (pgid: number) => void;
}

type Refusal = { reason: RefusalReason; message: string };

/**
 * Takes commands from the server, checks them (gate, then the host's
 * policy), and runs them one at a time in arrival order. Every command that
 * can be answered gets `started` and a final result, or `refused`.
 */
export class CommandRunner {
  readonly #queue: SignedCommand[] = [];
  #running: Promise<void> | null = null;

  constructor(private readonly o: CommandRunnerOptions) {}

  async receive(commands: unknown[]): Promise<void> {
    for (const raw of commands) {
      const checked = await this.o.gate.check(raw);
      if (!checked.ok) {
        this.#refuse(checked.answerTo, checked, (raw as { id?: unknown })?.id);
        continue;
      }
      const { cmd } = checked;
      const denied = this.#policyRefusal(cmd);
      if (denied) this.#refuse(cmd.id, denied);
      else if (this.#queue.length >= MAX_QUEUED) this.#refuse(cmd.id, { reason: 'busy', message: `${MAX_QUEUED} commands already wait` });
      else {
        this.o.log.info('command accepted', { id: cmd.id, action: cmd.action });
        this.#queue.push(cmd);
      }
    }
    this.#running ??= this.#drain().finally(() => {
      this.#running = null;
    });
  }

  /** Resolves when no command runs or waits. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  #policyRefusal(cmd: SignedCommand): Refusal | null {
    // Pinning a new key changes nothing on the machine, and the old key signed it.
    if (cmd.action === ROTATE_SIGNING_KEY) return null;
    if (!Object.hasOwn(this.o.policy.actions, cmd.action)) return { reason: 'action_not_allowed', message: `${cmd.action.slice(0, 64)} is not allowed by this machine's policy` };
    return null;
  }

  #refuse(commandId: string | null, refusal: Refusal, rawId?: unknown): void {
    const id = commandId ?? (typeof rawId === 'string' ? rawId.slice(0, 64) : undefined);
    this.o.log.warn('refusing a command', { id, reason: refusal.reason, message: refusal.message });
    if (commandId) this.o.results.push(commandId, { status: 'refused', reason: refusal.reason, message: refusal.message });
  }

  async #drain(): Promise<void> {
    for (let cmd = this.#queue.shift(); cmd; cmd = this.#queue.shift()) {
      try {
        await this.#run(cmd);
      } catch (err) {
        this.o.log.error('a command failed inside the agent', { id: cmd.id, reason: err instanceof Error ? err.message.slice(0, 200) : 'unknown' });
      }
    }
  }

  async #run(cmd: SignedCommand): Promise<void> {
    const { clock, results } = this.o;
    if (cmd.expiresAt <= clock.nowMs()) return this.#refuse(cmd.id, { reason: 'expired', message: 'the command expired while it waited' });
    let scriptPath: string | null = null;
    if (cmd.action === 'run_script') {
      const check = await this.#checkScript(cmd.params as RunScriptParams);
      if (!check.ok) return this.#refuse(cmd.id, check);
      scriptPath = check.path;
    }
    const startedAt = clock.nowMs();
    results.push(cmd.id, { status: 'started', startedAt });
    const result = scriptPath ? await this.#runScript(cmd, scriptPath) : await this.#runBuiltin(cmd, startedAt);
    results.push(cmd.id, result);
    this.o.log.info('command finished', { id: cmd.id, action: cmd.action, status: result.status, exitCode: result.exitCode });
    if (cmd.action === 'restart_agent' && result.status === 'succeeded') this.o.builtins.restart();
  }

  /** Policy allows the script and its args, and the file right before exec still has the signed hash. */
  async #checkScript(params: RunScriptParams): Promise<({ ok: true; path: string }) | ({ ok: false } & Refusal)> {
    const found = await findAllowedScript(this.o.policy, params.sha256, params.args, this.o.policyOwnerUid);
    if (!found.ok) return found;
    return verifyScript(found.path, params.sha256, this.o.policyOwnerUid);
  }

  #runScript(cmd: SignedCommand, path: string): Promise<FinalResult> {
    const { policy, clock } = this.o;
    const params = cmd.params as RunScriptParams;
    return runProcess({
      file: path,
      args: params.args,
      cwd: policy.runScript?.workingDirectory ?? '/',
      timeoutMs: this.#timeoutSeconds('run_script') * 1000,
      outputLimit: MAX_RESULT_OUTPUT_BYTES,
      clock,
      ...(this.o.killGraceMs !== undefined ? { killGraceMs: this.o.killGraceMs } : {}),
      ...(this.o.onSpawn ? { onSpawn: this.o.onSpawn } : {}),
    }).then(finalResult);
  }

  async #runBuiltin(cmd: SignedCommand, startedAt: number): Promise<FinalResult> {
    const { builtins, clock } = this.o;
    const done = (output: string, status: 'succeeded' | 'failed' = 'succeeded') => builtinResult(status, output, startedAt, clock.nowMs());
    try {
      switch (cmd.action) {
        case 'ping':
          return done('pong');
        case 'collect':
          return done(await builtins.collect());
        case 'diagnostics':
          return done(builtins.diagnostics());
        case 'restart_agent':
          return done('the agent restarts now');
        case ROTATE_SIGNING_KEY:
          return done(await this.#rotateSigningKey(String(cmd.params.publicKey)));
        default:
          return done(`no such action ${cmd.action.slice(0, 64)}`, 'failed');
      }
    } catch (err) {
      return done(err instanceof Error ? err.message.slice(0, 500) : 'the action failed', 'failed');
    }
  }

  async #rotateSigningKey(publicKey: string): Promise<string> {
    if (!isCommandPublicKey(publicKey)) throw new Error('the new key is not an Ed25519 public key');
    await this.o.state.setCommandPublicKey(publicKey);
    this.o.log.info('command signing key rotated; only the new key is accepted from now on', {});
    return 'command signing key rotated';
  }

  #timeoutSeconds(action: PolicyAction): number {
    return this.o.policy.actions[action]?.timeoutSeconds ?? 300;
  }
}

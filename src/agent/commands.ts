import type { Clock } from '../lib/clock.js';
import { verifyCommand, type SignedCommand } from '../protocol/signing.js';
import type { AgentLog } from './log.js';

/** How many command ids are remembered to refuse a replayed one. */
const SEEN_LIMIT = 10_000;

/**
 * Checks commands from a report answer (DESIGN.md §4 "Commands"): the
 * signature under the enrolled public key, this agent's id, expiry and that the
 * id is new. Only commands that pass are returned; the rest are logged.
 */
export class CommandGate {
  readonly #seen = new Set<string>();

  constructor(
    private readonly publicKey: () => string,
    private readonly agentId: () => string,
    private readonly clock: Clock,
    private readonly log: AgentLog,
  ) {}

  accept(commands: unknown[]): SignedCommand[] {
    const ok: SignedCommand[] = [];
    for (const raw of commands) {
      const cmd = raw as SignedCommand;
      const id = typeof cmd?.id === 'string' ? cmd.id.slice(0, 64) : undefined;
      const reason = !verifyCommand(this.publicKey(), cmd)
        ? 'bad_signature'
        : cmd.agentId !== this.agentId()
          ? 'other_agent'
          : cmd.expiresAt <= this.clock.nowMs()
            ? 'expired'
            : this.#seen.has(cmd.id)
              ? 'replayed'
              : null;
      if (reason) {
        this.log.warn('refusing a command', { id, reason });
        continue;
      }
      this.#remember(cmd.id);
      ok.push(cmd);
    }
    return ok;
  }

  #remember(id: string): void {
    this.#seen.add(id);
    if (this.#seen.size > SEEN_LIMIT) {
      const oldest = this.#seen.values().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
  }
}

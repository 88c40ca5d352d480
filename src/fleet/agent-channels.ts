import type { Clock } from '../lib/clock.js';
import type { SignedCommand } from '../protocol/signing.js';
import type { Kv, Unsubscribe } from '../store/kv/kv.js';
import type { FleetLog } from './log.js';

/** The bus channel that tells every node "these agents have commands queued". */
export const NUDGE_CHANNEL = 'agent-channel:nudge';
/** Close code sent to a connection that a newer one of the same agent replaced. */
export const REPLACED_CLOSE_CODE = 4000;
/** Close code sent when the key the connection was opened with no longer authenticates (revoked, rotated). */
export const KEY_INVALID_CLOSE_CODE = 4001;
const MAX_ROUNDS = 5;

/** What the registry needs of one open connection (a WebSocket in production). */
export interface ChannelSocket {
  send(text: string): void;
  close(code: number, reason: string): void;
  /** Whether the key the connection was opened with still authenticates. */
  keyValid(): Promise<boolean>;
}

export type DisconnectListener = (agentId: string, at: number) => void;

export interface AgentChannelsDeps {
  kv: Kv;
  clock: Clock;
  log: FleetLog;
  /** The agent's queued commands, marked delivered (commands' `pendingFor`). */
  pendingFor: (agentId: string) => Promise<SignedCommand[]>;
}

/**
 * The agents holding a persistent channel to this node: at most one connection
 * each, the newest winning. Commands are pushed on connect and when the bus
 * says an agent has some queued; the node that holds the connection answers,
 * the others ignore the nudge. Lookups are one Map read.
 */
export class AgentChannels {
  readonly #sockets = new Map<string, ChannelSocket>();
  readonly #listeners = new Set<DisconnectListener>();
  #unsubscribe: Unsubscribe | null = null;

  constructor(private readonly deps: AgentChannelsDeps) {}

  get size(): number {
    return this.#sockets.size;
  }

  connected(agentId: string): boolean {
    return this.#sockets.has(agentId);
  }

  /** Called with (agentId, UTC ms) when an agent's channel on this node closes and no newer one replaced it. */
  onAgentDisconnected(listener: DisconnectListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Registers the agent's connection, closing an older one, and hands it what is queued. */
  attach(agentId: string, socket: ChannelSocket): void {
    const previous = this.#sockets.get(agentId);
    this.#sockets.set(agentId, socket);
    previous?.close(REPLACED_CLOSE_CODE, 'replaced by a newer connection');
    void this.deliver(agentId);
  }

  /** Forgets the connection when it is still the agent's current one; only then is the agent gone. */
  detach(agentId: string, socket: ChannelSocket): void {
    if (this.#sockets.get(agentId) !== socket) return;
    this.#sockets.delete(agentId);
    const at = this.deps.clock.nowMs();
    for (const listener of this.#listeners) {
      try {
        listener(agentId, at);
      } catch (err) {
        this.deps.log.warn({ err: { message: (err as Error).message } }, 'agent disconnect listener failed');
      }
    }
  }

  /** Tells every node (this one included) that these agents have commands queued. */
  async nudge(agentIds: string[]): Promise<void> {
    if (agentIds.length === 0) return;
    try {
      await this.deps.kv.publish(NUDGE_CHANNEL, JSON.stringify(agentIds));
    } catch (err) {
      // The report answer still carries the commands: a failed nudge only delays them.
      this.deps.log.warn({ err: { message: (err as Error).message } }, 'agent channel nudge not published');
    }
  }

  async start(): Promise<void> {
    this.#unsubscribe ??= await this.deps.kv.subscribe(NUDGE_CHANNEL, (message) => this.#onNudge(message));
  }

  async stop(): Promise<void> {
    const unsubscribe = this.#unsubscribe;
    this.#unsubscribe = null;
    await unsubscribe?.();
  }

  /**
   * Closes every connection at this node's shutdown. No disconnect is
   * signalled: the agents did not go away, they reconnect to whichever node is up.
   */
  closeAll(): void {
    const sockets = [...this.#sockets.values()];
    this.#sockets.clear();
    for (const socket of sockets) socket.close(1001, 'server shutting down');
  }

  #onNudge(message: string): void {
    let ids: unknown;
    try {
      ids = JSON.parse(message);
    } catch {
      return;
    }
    if (!Array.isArray(ids)) return;
    for (const id of ids) if (typeof id === 'string' && this.#sockets.has(id)) void this.deliver(id);
  }

  private async deliver(agentId: string): Promise<void> {
    try {
      const socket = this.#sockets.get(agentId);
      if (!socket) return;
      // A connection outlives its handshake: commands go out only while its key still holds (one row read per delivery).
      if (!(await socket.keyValid())) {
        socket.close(KEY_INVALID_CLOSE_CODE, 'the agent key is no longer valid');
        this.detach(agentId, socket);
        return;
      }
      // pendingFor hands out a bounded batch; a few rounds drain a burst without starving the event loop.
      for (let round = 0; round < MAX_ROUNDS && this.#sockets.get(agentId) === socket; round++) {
        const commands = await this.deps.pendingFor(agentId);
        if (commands.length === 0) return;
        // Marked delivered already; if the agent left meanwhile, they expire unseen, as after a lost report answer.
        socket.send(JSON.stringify({ type: 'commands', commands }));
      }
    } catch (err) {
      this.deps.log.warn({ err: { message: (err as Error).message } }, 'agent channel delivery failed');
    }
  }
}

import type { AgentRow } from './agents.js';

/** The agent behind an authenticated request (`config.policy: { auth: 'agent' }`). */
export interface AgentPrincipal {
  agentId: string;
  /** The row the key was checked against, so the route need not read it again. */
  row: AgentRow;
}

/** Checks `fla_<agentId>_<secret>`; one `unauthorized` error for every failure. */
export interface AgentAuthenticator {
  authenticate(apiKey: string | null): Promise<AgentPrincipal>;
}

declare module 'fastify' {
  interface FastifyRequest {
    agent: AgentPrincipal | null;
  }
}

/** Agent API keys are `fla_<agentId>_<secret>` (lib/secret-token.ts): the id locates the agent before the secret is checked. */
export const AGENT_KEY_PREFIX = 'fla';

import { LruCache } from '../lib/lru.js';
import { deriveAgentKey, KEY_BYTES } from '../protocol/sealing.js';
import { commandSignerFromSeed, type CommandSigner } from '../protocol/signing.js';
import { hkdfKey } from '../protocol/kdf.js';

/**
 * The fleet's key material, derived once from the node secrets. Sealing keys
 * are never stored: each is re-derived from the e2ee master when needed
 * (docs/protocol.md), so a database dump holds no key that opens a report. The
 * process keeps the recently used ones in memory (it holds the master anyway),
 * because deriving one costs a tenth of a report's ingest.
 */
export interface FleetKeys {
  sealingKey(agentId: string, kid: number): Uint8Array;
  commandSigner: CommandSigner;
}

/** The Ed25519 seed: HKDF-SHA256 of the commandSigning secret, so any secret length gives a full 32-byte seed. */
export function commandSigningSeed(commandSigningSecret: string): Uint8Array {
  return hkdfKey(Buffer.from(commandSigningSecret, 'base64url'), 'flotilla/command-signing/v1');
}

/** Every agent of a 10,000-machine fleet under its current and previous key version (~5 MB). */
const SEALING_KEY_CACHE_SIZE = 20_000;

export function fleetKeys(secrets: { e2ee: string; commandSigning: string }): FleetKeys {
  const master = new Uint8Array(Buffer.from(secrets.e2ee, 'base64url'));
  // deriveAgentKey would throw on every report; refuse at boot instead.
  if (master.byteLength < KEY_BYTES) throw new Error(`secrets.e2ee must decode to at least ${KEY_BYTES} bytes`);
  const derived = new LruCache<string, Uint8Array>(SEALING_KEY_CACHE_SIZE);
  return {
    // kid is an integer, so the last ':' splits the cache key unambiguously.
    sealingKey: (agentId, kid) => derived.getOrSet(`${agentId}:${kid}`, () => deriveAgentKey(master, agentId, kid)),
    commandSigner: commandSignerFromSeed(commandSigningSeed(secrets.commandSigning)),
  };
}

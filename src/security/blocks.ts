import { compileCidrs, parseIp, subjectOf } from '../protocol/ip.js';
import type { BlockList } from '../perimeter/scanner.js';

/**
 * Automatic IP blocks go into the perimeter's own block list (same Kv keys),
 * so there is one list: the perimeter refuses those IPs on every node, and an
 * admin sees and lifts them at /api/admin/security/blocks. The unit is the
 * perimeter's subject: the IPv4 address, or the IPv6 /64.
 */
export interface IpBlocker {
  /** true when this call blocked it (false: already blocked, exempt, or not an IP). */
  blockIp(ip: string, ttlMs: number, count: number): Promise<boolean>;
  isBlocked(ip: string): Promise<boolean>;
}

export function perimeterBlocker(blocks: Pick<BlockList, 'block' | 'isBlocked'>, exemptCidrs: readonly string[]): IpBlocker {
  // Built once: a bad CIDR stops the boot.
  const exempt = compileCidrs(exemptCidrs, 'detection.exemptCidrs');
  return {
    async blockIp(ip, ttlMs, count) {
      const parsed = parseIp(ip);
      if (!parsed || exempt(parsed)) return false;
      // The perimeter's reasons are its own triggers; every block from here follows failed authentication.
      return (await blocks.block(subjectOf(ip), 'auth_failures', count, ttlMs)) !== null;
    },
    isBlocked: (ip) => blocks.isBlocked(subjectOf(ip)),
  };
}

import type { PerimeterConfig } from '../config/schema.js';
import type { Clock } from '../lib/clock.js';
import type { Kv } from '../store/kv/kv.js';
import { createAdminAllowlist } from './allowlist.js';
import { createClientIpResolver, type ClientIpResolver } from './client-ip.js';
import { createCors, type Cors } from './cors.js';
import { createEgressGuard, type EgressGuard } from '../protocol/egress.js';
import { createGeoBlocker } from './geoip.js';
import { securityHeaders } from './headers.js';
import { LoginThrottle } from './login-throttle.js';
import { RateLimiter } from './rate-limit.js';
import { BlockList, ScannerDetector } from './scanner.js';
import { PerimeterStats } from './stats.js';

/** Every perimeter control of one node, built once from the config (a bad value stops the boot). */
export interface Perimeter {
  config: PerimeterConfig;
  stats: PerimeterStats;
  headers: Readonly<Record<string, string>>;
  cors: Cors | null;
  clientIp: ClientIpResolver;
  limiter: RateLimiter;
  /** Per-IP failed-login limit; `loginThrottle.guard` is identity's LoginGuard. */
  loginThrottle: LoginThrottle;
  adminAllowed: ((ip: string) => boolean) | null;
  /** The blocked country for an address, or null. */
  geoBlocked: ((ip: string) => string | null) | null;
  blocks: BlockList;
  scanner: ScannerDetector;
  egress: EgressGuard;
}

export async function createPerimeter(opts: { config: PerimeterConfig; kv: Kv; clock: Clock }): Promise<Perimeter> {
  const { config, kv, clock } = opts;
  const blocks = new BlockList(kv, clock);
  return {
    config,
    stats: new PerimeterStats(),
    headers: securityHeaders({ hstsPreload: config.hstsPreload }),
    cors: createCors(config.cors),
    clientIp: createClientIpResolver({ trustedProxies: config.trustedProxies, header: config.clientIpHeader }),
    limiter: new RateLimiter(kv, clock),
    loginThrottle: new LoginThrottle(kv, clock, config.rateLimit.login),
    adminAllowed: createAdminAllowlist(config.adminIpAllowlist),
    geoBlocked: await createGeoBlocker(config.geoBlocking),
    blocks,
    scanner: new ScannerDetector(kv, clock, blocks, config.scanner),
    egress: createEgressGuard({ allowedNetworks: config.egress.allowedNetworks }),
  };
}

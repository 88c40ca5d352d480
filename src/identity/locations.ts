/**
 * Known login locations: the network a login
 * came from, as an IPv4 /24 or an IPv6 /64, so a DHCP lease change inside one
 * office or one home connection is not "new". Kept per user and bounded; the
 * least recently seen location is dropped first.
 */
import ipaddr from 'ipaddr.js';
import type { Kysely } from 'kysely';
import type { Database } from '../store/sql/tables.js';

export const MAX_LOCATIONS_PER_USER = 50;

/** The /24 or /64 an address belongs to; 'unknown' when there is no usable address. */
export function locationPrefix(ip: string | null): string {
  if (!ip || !ipaddr.isValid(ip)) return 'unknown';
  let addr = ipaddr.parse(ip);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
  if (addr.kind() === 'ipv4') {
    const [a, b, c] = (addr as ipaddr.IPv4).octets;
    return `${a}.${b}.${c}.0/24`;
  }
  const parts = (addr as ipaddr.IPv6).parts.slice(0, 4).map((p) => p.toString(16));
  return `${parts.join(':')}::/64`;
}

export class LoginLocations {
  constructor(private readonly db: Kysely<Database>) {}

  async isKnown(userId: string, prefix: string): Promise<boolean> {
    const row = await this.db.selectFrom('loginLocations').select('prefix').where('userId', '=', userId).where('prefix', '=', prefix).executeTakeFirst();
    return row !== undefined;
  }

  /** Remembers a successful login's location: 'known', 'new', or 'first' (the user's first login anywhere). */
  async record(userId: string, prefix: string, now: number): Promise<'known' | 'new' | 'first'> {
    const updated = await this.db.updateTable('loginLocations').set({ lastSeenAt: now, updatedAt: now }).where('userId', '=', userId).where('prefix', '=', prefix).executeTakeFirst();
    if (Number(updated.numUpdatedRows) > 0) return 'known';
    const any = await this.db.selectFrom('loginLocations').select('prefix').where('userId', '=', userId).limit(1).executeTakeFirst();
    await this.db
      .insertInto('loginLocations')
      .values({ userId, prefix, lastSeenAt: now, createdAt: now, updatedAt: now })
      .onConflict((oc) => oc.columns(['userId', 'prefix']).doUpdateSet({ lastSeenAt: now, updatedAt: now }))
      .execute();
    await this.evictBeyondLimit(userId);
    return any ? 'new' : 'first';
  }

  list(userId: string): Promise<Array<{ prefix: string; lastSeenAt: number }>> {
    return this.db.selectFrom('loginLocations').select(['prefix', 'lastSeenAt']).where('userId', '=', userId).orderBy('lastSeenAt', 'desc').execute();
  }

  private async evictBeyondLimit(userId: string): Promise<void> {
    const stale = await this.db
      .selectFrom('loginLocations')
      .select('prefix')
      .where('userId', '=', userId)
      .orderBy('lastSeenAt', 'desc')
      .orderBy('prefix')
      .offset(MAX_LOCATIONS_PER_USER)
      .limit(1000)
      .execute();
    if (stale.length === 0) return;
    await this.db
      .deleteFrom('loginLocations')
      .where('userId', '=', userId)
      .where(
        'prefix',
        'in',
        stale.map((r) => r.prefix),
      )
      .execute();
  }
}

import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * Parses an address strictly: dotted-quad IPv4 or IPv6 only (no `0x7f.1`,
 * no bare integers), and an IPv4-mapped IPv6 address becomes its IPv4 form, so
 * `::ffff:10.0.0.1` cannot slip past a rule written for `10.0.0.0/8`.
 */
export function parseIp(text: string): IpAddress | null {
  const trimmed = text.trim();
  if (isIP(trimmed) === 0) return null;
  const parsed = ipaddr.parse(trimmed);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) return (parsed as ipaddr.IPv6).toIPv4Address();
  return parsed;
}

/** One spelling per address (dotted quad, RFC 5952), so keys and comparisons agree. */
export function normalizeIp(text: string): string | null {
  const ip = parseIp(text);
  return ip ? formatIp(ip) : null;
}

export function formatIp(ip: IpAddress): string {
  return ip.kind() === 'ipv6' ? (ip as ipaddr.IPv6).toRFC5952String() : ip.toString();
}

/**
 * The unit counters and blocks apply to: the address for IPv4, its /64 for
 * IPv6 (one host usually holds a whole /64 and can rotate through it freely).
 */
export function subjectOf(ip: string): string {
  const parsed = parseIp(ip);
  if (!parsed) return ip;
  if (parsed.kind() === 'ipv4') return parsed.toString();
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${formatIp(parsed)}/64`).toRFC5952String()}/64`;
}

/** Reads an admin-supplied subject (an address, or an IPv6 /64 as listed); null when invalid. */
export function parseSubject(text: string): string | null {
  if (text.length > 64) return null;
  const slash = text.indexOf('/');
  if (slash < 0) return parseIp(text) ? subjectOf(text) : null;
  const address = parseIp(text.slice(0, slash));
  if (!address || address.kind() !== 'ipv6' || text.slice(slash + 1) !== '64') return null;
  return subjectOf(formatIp(address));
}

/**
 * Compiles a list of addresses and CIDRs into a matcher, once at start-up; a
 * bad entry throws, naming the setting, so a typo never silently opens a door.
 */
export function compileCidrs(entries: readonly string[], setting: string): (ip: IpAddress) => boolean {
  const ranges: Array<[IpAddress, number]> = entries.map((entry) => {
    const text = entry.trim();
    const slash = text.indexOf('/');
    const address = parseIp(slash < 0 ? text : text.slice(0, slash));
    const bitsText = slash < 0 ? undefined : text.slice(slash + 1);
    if (!address || (bitsText !== undefined && !/^\d{1,3}$/.test(bitsText))) throw new Error(`${setting}: "${entry}" is not an IP address or CIDR`);
    // A mapped IPv6 CIDR (::ffff:10.0.0.0/104) was turned into IPv4 above: shift its prefix length with it.
    const max = address.kind() === 'ipv4' ? 32 : 128;
    let bits = bitsText === undefined ? max : Number(bitsText);
    if (address.kind() === 'ipv4' && text.slice(0, slash < 0 ? undefined : slash).includes(':')) bits -= 96;
    if (bits < 0 || bits > max) throw new Error(`${setting}: "${entry}" has an invalid prefix length`);
    return [address, bits];
  });
  return (ip) => ranges.some(([range, bits]) => range.kind() === ip.kind() && ip.match(range, bits));
}

import type { IncomingHttpHeaders } from 'node:http';
import { compileCidrs, formatIp, parseIp } from '../protocol/ip.js';

export type ClientIpHeader = 'x-forwarded-for' | 'forwarded' | 'x-real-ip';

/** Proxies past this many hops are not followed; real chains are two or three long. */
const MAX_HOPS = 32;

export interface ClientIpOptions {
  trustedProxies: readonly string[];
  header: ClientIpHeader;
}

/** (TCP peer, request headers) -> the client's address, normalized. */
export type ClientIpResolver = (peer: string | undefined, headers: IncomingHttpHeaders) => string;

const headerText = (value: string | string[] | undefined): string => (Array.isArray(value) ? value.join(',') : (value ?? ''));

/** `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:443`, `"[2001:db8::1]"` -> the bare address text. */
function stripPort(token: string): string {
  let text = token.trim();
  if (text.startsWith('"') && text.endsWith('"') && text.length >= 2) text = text.slice(1, -1);
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    return end < 0 ? '' : text.slice(1, end);
  }
  // Exactly one colon: IPv4 with a port. Several: a bare IPv6 address.
  const colon = text.indexOf(':');
  return colon >= 0 && colon === text.lastIndexOf(':') ? text.slice(0, colon) : text;
}

/** The `for=` value of each element of an RFC 7239 `Forwarded` header, in order. */
function forwardedFor(value: string): string[] {
  const out: string[] = [];
  for (const element of value.split(',')) {
    for (const pair of element.split(';')) {
      const eq = pair.indexOf('=');
      if (eq > 0 && pair.slice(0, eq).trim().toLowerCase() === 'for') out.push(pair.slice(eq + 1));
    }
  }
  return out;
}

function hopsOf(headers: IncomingHttpHeaders, header: ClientIpHeader): string[] {
  const raw = headerText(headers[header]);
  if (raw === '') return [];
  if (header === 'forwarded') return forwardedFor(raw);
  const list = raw.split(',');
  // X-Real-IP is one address; if a chain of proxies repeated it, the nearest copy counts.
  return header === 'x-real-ip' ? list.slice(-1) : list;
}

/**
 * The proxy header is believed only when the TCP peer is a
 * trusted proxy, and then read from the right. Each entry was appended by the
 * hop to its right, so the client is the first address, walking leftwards,
 * that is not itself a trusted proxy; anything further left was written by the
 * client and is ignored. Other proxy headers are never read.
 */
export function createClientIpResolver(opts: ClientIpOptions): ClientIpResolver {
  const trusted = compileCidrs(opts.trustedProxies, 'perimeter.trustedProxies');
  const anyTrusted = opts.trustedProxies.length > 0;
  return (peer, headers) => {
    const peerIp = parseIp(peer ?? '');
    if (!peerIp) return peer ?? '';
    let current = peerIp;
    if (!anyTrusted || !trusted(current)) return formatIp(current);
    const hops = hopsOf(headers, opts.header);
    for (let i = hops.length - 1, walked = 0; i >= 0 && walked < MAX_HOPS; i--, walked++) {
      const hop = parseIp(stripPort(hops[i] ?? ''));
      // Garbage written by a trusted hop: stop at the last address we can vouch for.
      if (!hop) break;
      current = hop;
      if (!trusted(current)) break;
    }
    return formatIp(current);
  };
}

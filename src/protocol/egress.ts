import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { promisify } from 'node:util';
import type { LookupFunction } from 'node:net';
import { compileCidrs, formatIp, parseIp, type IpAddress } from './ip.js';

/** Telnet, SMTP, NetBIOS, SMB, RDP: never a webhook, often an attack. */
export const REFUSED_PORTS: ReadonlySet<number> = new Set([23, 25, 139, 445, 3389]);

/** Cloud metadata endpoints, named so the refusal says what it was. */
const METADATA = ['169.254.169.254', '169.254.170.2', '100.100.100.200', 'fd00:ec2::254'];

export class EgressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EgressError';
  }
}

export interface EgressTarget {
  url: URL;
  /** The checked address to connect to (never resolve the name again). */
  address: string;
  family: 4 | 6;
  port: number;
}

export interface EgressGuard {
  /** Resolves the URL's host, checks every address and the port; throws EgressError when refused. */
  check(url: string | URL): Promise<EgressTarget>;
  /**
   * A `lookup` for `http.request`, `net.connect` or an Agent: it resolves,
   * refuses forbidden addresses and hands back only checked ones, so the socket
   * connects to exactly the address that was checked (no DNS rebinding between
   * check and connect).
   */
  lookup: LookupFunction;
}

const resolveAll = promisify(dnsLookup) as unknown as (host: string, opts: { all: true; verbatim: boolean }) => Promise<LookupAddress[]>;

/**
 * The egress guard for every outbound call: webhooks and
 * notifications. Only public unicast addresses pass, unless a network is
 * allowlisted; loopback, private, link-local, CGNAT, unique-local, multicast,
 * reserved, NAT64/6to4/Teredo-embedded and metadata addresses are refused.
 */
export function createEgressGuard(opts: { allowedNetworks?: readonly string[] } = {}): EgressGuard {
  const allowed = compileCidrs(opts.allowedNetworks ?? [], 'perimeter.egress.allowedNetworks');
  const metadata = new Set(METADATA.map((ip) => formatIp(parseIp(ip) as IpAddress)));

  const refusal = (ip: IpAddress): string | null => {
    if (metadata.has(formatIp(ip))) return 'a cloud metadata address';
    if (allowed(ip)) return null;
    const range = ip.range();
    return range === 'unicast' ? null : `a ${range} address`;
  };

  const checkAddress = (text: string, host: string): { address: string; family: 4 | 6 } => {
    const ip = parseIp(text);
    if (!ip) throw new EgressError(`egress to ${host} refused: unusable address`);
    const why = refusal(ip);
    if (why) throw new EgressError(`egress to ${host} refused: ${why}`);
    return { address: formatIp(ip), family: ip.kind() === 'ipv4' ? 4 : 6 };
  };

  const resolve = async (host: string): Promise<Array<{ address: string; family: 4 | 6 }>> => {
    const bare = host.replace(/^\[(.*)\]$/, '$1');
    if (parseIp(bare)) return [checkAddress(bare, host)];
    let answers: LookupAddress[];
    try {
      answers = await resolveAll(bare, { all: true, verbatim: true });
    } catch (err) {
      throw new EgressError(`egress to ${host} refused: the name does not resolve (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (answers.length === 0) throw new EgressError(`egress to ${host} refused: the name does not resolve`);
    // Every answer must pass: a name that also points inside must not be usable at all.
    return answers.map((a) => checkAddress(a.address, host));
  };

  const check = async (input: string | URL): Promise<EgressTarget> => {
    let url: URL;
    try {
      url = new URL(input);
    } catch {
      throw new EgressError('egress refused: not a valid URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new EgressError(`egress refused: scheme ${url.protocol} is not allowed`);
    if (url.username || url.password) throw new EgressError('egress refused: credentials in the URL');
    const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
    if (REFUSED_PORTS.has(port)) throw new EgressError(`egress refused: port ${port} is not allowed`);
    const [first] = await resolve(url.hostname);
    if (!first) throw new EgressError(`egress to ${url.hostname} refused: the name does not resolve`);
    return { url, address: first.address, family: first.family, port };
  };

  const lookup: LookupFunction = (hostname, options, callback) => {
    resolve(hostname).then(
      (addresses) => {
        const wantAll = typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true;
        const first = addresses[0] as { address: string; family: 4 | 6 };
        if (wantAll) (callback as unknown as (err: null, addresses: LookupAddress[]) => void)(null, addresses);
        else callback(null, first.address, first.family);
      },
      (err: Error) => callback(err as NodeJS.ErrnoException, '', 0),
    );
  };

  return { check, lookup };
}

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Reader, type Response } from 'mmdb-lib';
import { formatIp, parseIp } from '../protocol/ip.js';

/** ip-location-db's country files (`country_code`) and MaxMind GeoLite2/GeoIP2-Country (`country.iso_code`). */
interface CountryRecord {
  country_code?: unknown;
  country?: { iso_code?: unknown };
  registered_country?: { iso_code?: unknown };
}

/** The bundled CC0 database, IPv4 and IPv6 in one file. */
export function defaultGeoDatabasePath(): string {
  return createRequire(import.meta.url).resolve('@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb');
}

const isCode = (value: unknown): value is string => typeof value === 'string' && /^[A-Z]{2}$/.test(value);

/** Country lookups in an MMDB file read once into memory. */
export class GeoIp {
  private constructor(private readonly reader: Reader<Response>) {}

  /** Opens the file; a missing or unreadable database stops the boot with a message naming it. */
  static async open(path = defaultGeoDatabasePath()): Promise<GeoIp> {
    let reader: Reader<Response>;
    try {
      reader = new Reader<Response>(await readFile(path));
    } catch (err) {
      throw new Error(`perimeter.geoBlocking.databasePath: cannot read an MMDB database from ${path}`, { cause: err });
    }
    return new GeoIp(reader);
  }

  /**
   * The ISO country code of a public address, or null for private, reserved
   * and unknown addresses (those are never blocked).
   */
  country(ip: string): string | null {
    const parsed = parseIp(ip);
    if (!parsed || parsed.range() !== 'unicast') return null;
    let record: CountryRecord | null;
    try {
      record = this.reader.get(formatIp(parsed)) as CountryRecord | null;
    } catch {
      // e.g. an IPv6 address looked up in an IPv4-only file.
      return null;
    }
    if (!record) return null;
    const code = record.country_code ?? record.country?.iso_code ?? record.registered_country?.iso_code;
    return isCode(code) ? code : null;
  }
}

/** Refuses clients from the configured countries; null when geo-blocking is off. */
export async function createGeoBlocker(opts: { countries: readonly string[]; databasePath?: string }): Promise<((ip: string) => string | null) | null> {
  if (opts.countries.length === 0) return null;
  const blocked = new Set(opts.countries);
  const geo = await GeoIp.open(opts.databasePath);
  // Returns the blocked country, or null to let the request through.
  return (ip) => {
    const country = geo.country(ip);
    return country !== null && blocked.has(country) ? country : null;
  };
}

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Reader, type Response } from 'mmdb-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultGeoDatabasePath, GeoIp } from '../../src/perimeter/geoip.js';
import { findOnPath } from '../harness/services.js';
import { buildTestApp, expectSecurityHeaders, type TestApp } from './helpers.js';
import { writeCountryMmdb } from './mmdb-writer.js';

/** Real public addresses of a country in the shipped database, found by reading it (never hard-coded). */
function addressIn(country: string): string {
  const reader = new Reader<Response>(readFileSync(defaultGeoDatabasePath()));
  for (let a = 1; a < 224; a++) {
    for (const b of [0, 16, 64, 128, 200]) {
      const ip = `${a}.${b}.1.1`;
      const record = reader.get(ip) as { country_code?: string } | null;
      if (record?.country_code === country && !['10', '127', '100', '169', '172', '192', '198', '203'].includes(String(a))) return ip;
    }
  }
  throw new Error(`no ${country} address found in the database`);
}

describe('GeoIP lookups', () => {
  it('reads the bundled ip-location-db database (country_code), IPv4 and IPv6', async () => {
    const geo = await GeoIp.open();
    const us = addressIn('US');
    expect(geo.country(us)).toBe('US');
    if (findOnPath('mmdblookup')) {
      // An independent reader agrees.
      const out = execFileSync('mmdblookup', ['--file', defaultGeoDatabasePath(), '--ip', us, 'country_code'], { encoding: 'utf8' });
      expect(out).toContain('"US"');
    }
    expect(geo.country('2001:4860:4860::8888')).toMatch(/^[A-Z]{2}$/);
    for (const unknown of ['10.1.2.3', '192.168.1.1', '127.0.0.1', '::1', 'fd00::1', '100.64.0.1', 'not-an-ip']) expect(geo.country(unknown), unknown).toBeNull();
  });

  it('reads a MaxMind GeoLite2-Country layout (country.iso_code)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-geo-'));
    try {
      const file = join(dir, 'GeoLite2-Country.mmdb');
      writeFileSync(file, writeCountryMmdb({ '1.2.3.0/24': 'DE', '5.6.0.0/16': 'FR' }));
      const geo = await GeoIp.open(file);
      expect(geo.country('1.2.3.4')).toBe('DE');
      expect(geo.country('5.6.200.1')).toBe('FR');
      expect(geo.country('9.9.9.9')).toBeNull();
      // An IPv6 address in an IPv4-only file is unknown, not an error.
      expect(geo.country('2001:4860:4860::8888')).toBeNull();
      await expect(GeoIp.open(join(dir, 'missing.mmdb'))).rejects.toThrow(/perimeter.geoBlocking.databasePath/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('GeoIP country blocking through a trusted proxy', () => {
  let t: TestApp;
  const cn = addressIn('CN');
  const ru = addressIn('RU');
  const us = addressIn('US');
  beforeAll(async () => {
    t = await buildTestApp({ env: { FLOTILLA_PERIMETER_GEO_BLOCKING_COUNTRIES: 'CN,RU', FLOTILLA_PERIMETER_TRUSTED_PROXIES: '10.0.0.1' } });
    await t.app.ready();
  });
  afterAll(async () => t?.close());

  const via = (client: string, url = '/api/me') => t.app.inject({ url, remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': client } });

  it('refuses clients from the listed countries on every route', async () => {
    for (const ip of [cn, ru]) {
      for (const url of ['/api/me', '/api/auth/login', '/healthz', '/nope']) {
        const res = await via(ip, url);
        expect(res.statusCode, `${ip} ${url}`).toBe(403);
        expect(res.json().error.code).toBe('geo_blocked');
        expectSecurityHeaders(res.headers, 'geo 403', { noStore: true });
      }
    }
    expect(t.app.perimeter.stats.refused.geo_blocked).toBe(8);
  });

  it('lets other countries, private and unknown addresses through', async () => {
    for (const ip of [us, '10.9.9.9', '192.168.0.10', 'fd12::1', '240.0.0.1']) {
      expect((await via(ip)).statusCode, ip).toBe(401);
    }
  });

  it('judges the resolved client, not a spoofed header from an untrusted peer', async () => {
    const spoofed = await t.app.inject({ url: '/api/me', remoteAddress: us, headers: { 'x-forwarded-for': cn } });
    expect(spoofed.statusCode).toBe(401);
    const direct = await t.app.inject({ url: '/api/me', remoteAddress: cn, headers: { 'x-forwarded-for': us } });
    expect(direct.statusCode).toBe(403);
  });
});

describe('GeoIP blocking with a MaxMind database file', () => {
  it('uses perimeter.geoBlocking.databasePath', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-geo-'));
    const file = join(dir, 'GeoLite2-Country.mmdb');
    writeFileSync(file, writeCountryMmdb({ '1.2.3.0/24': 'DE', '5.6.0.0/16': 'FR' }));
    const t = await buildTestApp({ env: { FLOTILLA_PERIMETER_GEO_BLOCKING_COUNTRIES: 'DE', FLOTILLA_PERIMETER_GEO_BLOCKING_DATABASE_PATH: file } });
    try {
      await t.app.ready();
      expect((await t.app.inject({ url: '/api/me', remoteAddress: '1.2.3.99' })).statusCode).toBe(403);
      expect((await t.app.inject({ url: '/api/me', remoteAddress: '5.6.7.8' })).statusCode).toBe(401);
    } finally {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/server/logger.js';
import { openServices } from '../../src/server/services.js';

/** Open file descriptors of this process that point into `dir`. */
function openFilesUnder(dir: string): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(dir) ? [target] : [];
    } catch {
      return [];
    }
  });
}

describe.skipIf(process.platform !== 'linux')('opening the services', () => {
  let dataDir = '';
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('closes the database again when a later service fails to start', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'flotilla-services-'));
    // The security domain refuses an unsigned webhook, after the database and KV are open.
    const config = await loadConfig({ env: { FLOTILLA_ALERTS_WEBHOOK_URL: 'https://127.0.0.1:9/hook' }, overrides: { dataDir } });
    await expect(openServices(config, { log: createLogger('silent') })).rejects.toThrow(/webhookSecret is required/);
    expect(openFilesUnder(dataDir)).toEqual([]);
  });

  it('holds the database open while running and lets go of it on close', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'flotilla-services-'));
    const services = await openServices(await loadConfig({ env: {}, overrides: { dataDir } }), { log: createLogger('silent') });
    expect(openFilesUnder(dataDir).some((file) => file.endsWith('flotilla.db'))).toBe(true);
    await services.close();
    expect(openFilesUnder(dataDir)).toEqual([]);
  });
});

/**
 * Builds the dashboard (dist/web) once per test run when its sources are newer
 * than the build, so browser tests always see the current code. The build goes
 * to a temporary directory that then replaces dist/web, so a server already
 * serving the old build never sees a half-written one.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

declare module 'vitest' {
  interface ProvidedContext {
    /** Why the dashboard build failed, or null when dist/web is current. */
    webBuildError: string | null;
  }
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const WEB_DIST = join(ROOT, 'dist', 'web');
const SOURCES = [join(ROOT, 'src', 'web'), join(ROOT, 'vite.config.ts'), join(ROOT, 'scripts', 'bundle-size.ts'), join(ROOT, 'package-lock.json')];

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

export function webBuildIsStale(): boolean {
  const index = join(WEB_DIST, 'index.html');
  if (!existsSync(index)) return true;
  const built = statSync(index).mtimeMs;
  return SOURCES.some((source) => newestMtime(source) > built);
}

function runViteBuild(outDir: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    // NODE_ENV=production: vitest sets it to "test", which would bundle React's development build.
    const child = spawn(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], {
      cwd: ROOT,
      env: { ...process.env, NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** Builds dist/web if stale. Returns null on success, or the build's output on failure (tests that need the dashboard report it). */
export async function ensureWebBuilt(): Promise<string | null> {
  if (!webBuildIsStale()) return null;
  const suffix = `${process.pid}-${Date.now()}`;
  const fresh = `${WEB_DIST}.build-${suffix}`;
  try {
    const { code, output } = await runViteBuild(fresh);
    if (code !== 0 || !existsSync(join(fresh, 'index.html'))) return `vite build failed (exit ${code}):\n${output.slice(-4000)}`;
    const old = `${WEB_DIST}.old-${suffix}`;
    if (existsSync(WEB_DIST)) renameSync(WEB_DIST, old);
    renameSync(fresh, WEB_DIST);
    rmSync(old, { recursive: true, force: true });
    return null;
  } catch (err) {
    return `vite build failed: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
}

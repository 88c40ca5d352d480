import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { LAYERS, layerOf } from '../../eslint/layers.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const eslint = new ESLint({ cwd: ROOT });

/** The layer-rule messages ESLint gives a file with this text at this path (the file need not exist). */
async function layerErrors(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, path) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'flotilla/layers').map((m) => m.message);
}

describe('the layer rules bite', () => {
  const planted: Array<[string, string, RegExp]> = [
    ['src/agent/planted.ts', "import { createDb } from '../store/sql/db.js';\nexport const x = createDb;\n", /agent\/ may not import store\//],
    ['src/agent/planted.ts', "export async function f() { return import('../identity/module.js'); }\n", /agent\/ may not import identity\//],
    ['src/agent/planted.ts', "export * from '../fleet/ingest.js';\n", /agent\/ may not import fleet\//],
    ['src/agent/planted.ts', "export type X = typeof import('../server/app.js');\n", /agent\/ may not import server\//],
    ['src/agent/planted.ts', "export async function f(p: string) { return import(p); }\n", /computed path/],
    ['src/fleet/planted.ts', "import type { Services } from '../server/services.js';\nexport type S = Services;\n", /fleet\/ may not import server\//],
    ['src/store/planted.ts', "import type { UserRow } from '../identity/users/repo.js';\nexport type U = UserRow;\n", /store\/ may not import identity\//],
    ['src/lib/planted.ts', "import { systemClock } from '../protocol/base64url.js';\nexport const c = systemClock;\n", /lib\/ may not import protocol\//],
    ['src/protocol/planted.ts', "import { perimeterError } from '../perimeter/errors.js';\nexport const e = perimeterError;\n", /protocol\/ may not import perimeter\//],
    ['src/identity/planted.ts', "import { createSecurity } from '../security/module.js';\nexport const s = createSecurity;\n", /identity\/ may not import security\//],
    ['src/security/planted.ts', "import { createPerimeter } from '../perimeter/module.js';\nexport const p = createPerimeter;\n", /may import only types from perimeter/],
    ['src/newfolder/planted.ts', 'export const x = 1;\n', /no entry in the layer rules/],
  ];
  for (const [path, code, message] of planted) {
    it(`refuses ${path}: ${code.split('\n')[0]}`, async () => {
      const errors = await layerErrors(path, code);
      expect(errors.length, code).toBeGreaterThan(0);
      expect(errors.join('\n')).toMatch(message);
    });
  }

  const allowed: Array<[string, string]> = [
    ['src/identity/planted.ts', "import type { VerifiedRegistrationResponse } from '@simplewebauthn/server';\nexport type V = VerifiedRegistrationResponse;\n"],
    ['src/agent/planted.ts', "import { sealEnvelope } from '../protocol/sealing.js';\nimport { systemClock } from '../lib/clock.js';\nexport const x = [sealEnvelope, systemClock];\n"],
    ['src/security/planted.ts', "import type { PerimeterEvent } from '../perimeter/stats.js';\nexport type E = PerimeterEvent;\n"],
    ['src/server/planted.ts', "import { createFleet } from '../fleet/module.js';\nexport const f = createFleet;\n"],
  ];
  for (const [path, code] of allowed) {
    it(`allows ${path}: ${code.split('\n')[0]}`, async () => {
      expect(await layerErrors(path, code)).toEqual([]);
    });
  }
});

/** Every .ts file under a folder. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : /\.tsx?$/.test(name) ? [path] : [];
  });
}

/** Every file of src/ that `entries` reach through relative imports (static, dynamic and type), transitively. */
function reach(entries: string[]): Set<string> {
  const seen = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue;
      queue.push(resolve(dirname(file), fileName.replace(/\.js$/, '.ts')));
    }
  }
  return seen;
}

describe("the agent's bundle", () => {
  it('reaches only agent/, protocol/ and lib/, through any chain of imports', () => {
    const reached = [...reach(sources(join(ROOT, 'src/agent')))].map((file) => relative(ROOT, file));
    const outside = reached.filter((file) => !['agent', 'protocol', 'lib'].includes(layerOf(join(ROOT, file)) ?? ''));
    expect(reached.length).toBeGreaterThan(10);
    expect(outside).toEqual([]);
  });

  it('is what the rules allow the agent, and what they allow the layers below it', () => {
    expect(LAYERS.agent).toEqual(['lib', 'protocol']);
    expect(LAYERS.protocol).toEqual(['lib']);
    expect(LAYERS.lib).toEqual([]);
  });
});

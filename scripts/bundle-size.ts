import { gzipSync } from 'node:zlib';
import type { Plugin } from 'vite';

/** The dashboard's budget for JavaScript the first page loads, gzipped. */
export const FIRST_PAGE_JS_LIMIT_BYTES = 250 * 1024;

interface ChunkLike {
  type: 'chunk';
  code: string;
  imports: string[];
  isEntry: boolean;
}

/** File names of the entry chunks and everything they import statically: what a browser fetches before the first render. */
export function firstPageChunks(bundle: Record<string, { type: string }>): string[] {
  const seen = new Set<string>();
  const visit = (name: string) => {
    const chunk = bundle[name] as ChunkLike | undefined;
    if (!chunk || chunk.type !== 'chunk' || seen.has(name)) return;
    seen.add(name);
    for (const imported of chunk.imports) visit(imported);
  };
  for (const [name, item] of Object.entries(bundle)) if (item.type === 'chunk' && (item as ChunkLike).isEntry) visit(name);
  return [...seen];
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

/**
 * Prints the gzipped size of the first page's JavaScript after every build and
 * fails the build above the limit, so the budget cannot drift silently.
 * Lazily loaded pages (dynamic imports) are not part of the first page.
 */
export function bundleBudget(opts: { limitBytes?: number; print?: (line: string) => void } = {}): Plugin {
  const limit = opts.limitBytes ?? FIRST_PAGE_JS_LIMIT_BYTES;
  const print = opts.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  return {
    name: 'flotilla-bundle-budget',
    apply: 'build',
    generateBundle(_options, bundle) {
      const names = firstPageChunks(bundle);
      const gzipped = names.reduce((sum, name) => sum + gzipSync((bundle[name] as unknown as ChunkLike).code, { level: 9 }).length, 0);
      print(`first-page JavaScript: ${kb(gzipped)} gzipped in ${names.length} file(s) (budget ${kb(limit)})`);
      if (gzipped > limit) this.error(`first-page JavaScript is ${kb(gzipped)} gzipped, over the ${kb(limit)} budget`);
    },
  };
}

import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import security from 'eslint-plugin-security';

/** Import directions of DESIGN.md §2: web -> server -> domains -> store. */
const forbid = (...groups) => ({
  'no-restricted-imports': ['error', { patterns: groups.map((group) => ({ group: [`**/${group}/**`, `**/${group}`], message: `this folder must not import ${group}/` })) }],
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'test-results/**', 'data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  security.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Object lookups here use keys from schemas and fixed tables, not raw input.
      'security/detect-object-injection': 'off',
      // Paths come from configuration and the data dir, never from requests.
      'security/detect-non-literal-fs-filename': 'off',
    },
  },
  { files: ['src/store/**'], rules: forbid('server', 'identity', 'fleet', 'security', 'perimeter', 'cli', 'cluster', 'agent', 'web', 'config') },
  { files: ['src/lib/**'], rules: forbid('server', 'identity', 'fleet', 'security', 'perimeter', 'cli', 'cluster', 'agent', 'web', 'store', 'config') },
  { files: ['src/config/**'], rules: forbid('server', 'identity', 'fleet', 'security', 'perimeter', 'cli', 'cluster', 'agent', 'web') },
  { files: ['src/identity/**', 'src/fleet/**', 'src/security/**', 'src/perimeter/**', 'src/cluster/**'], rules: forbid('server', 'cli', 'web', 'agent') },
  { files: ['src/server/**'], rules: forbid('cli', 'web', 'agent') },
  { files: ['src/agent/**'], rules: forbid('server', 'store', 'web', 'identity', 'cli') },
  { files: ['src/web/**'], rules: forbid('server', 'store', 'identity', 'fleet', 'security', 'perimeter', 'cli', 'cluster', 'agent', 'config') },
  {
    // The dashboard runs in the browser: its globals, not Node's.
    files: ['src/web/**'],
    languageOptions: {
      globals: {
        window: 'readonly', document: 'readonly', navigator: 'readonly', location: 'readonly', history: 'readonly', fetch: 'readonly',
        EventSource: 'readonly', MessageEvent: 'readonly', DOMException: 'readonly', AbortController: 'readonly', URLSearchParams: 'readonly',
        ResizeObserver: 'readonly', requestAnimationFrame: 'readonly', cancelAnimationFrame: 'readonly', getComputedStyle: 'readonly',
        HTMLElement: 'readonly', HTMLInputElement: 'readonly', HTMLButtonElement: 'readonly', HTMLDivElement: 'readonly', HTMLHeadingElement: 'readonly',
        process: 'off', Buffer: 'off',
      },
    },
  },
);

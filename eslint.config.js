import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import security from 'eslint-plugin-security';
import { layersPlugin } from './eslint/layers.js';

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
  // Each folder of src/ imports only what its layer allows (eslint/layers.js, docs/architecture.md).
  { files: ['src/**/*.ts', 'src/**/*.tsx'], plugins: { flotilla: layersPlugin }, rules: { 'flotilla/layers': 'error' } },
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

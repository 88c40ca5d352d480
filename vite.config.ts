import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';
import { bundleBudget } from './scripts/bundle-size.js';

/** The dashboard (src/web) builds into dist/web, which src/server/web.ts serves. */
export default defineConfig({
  root: fileURLToPath(new URL('./src/web', import.meta.url)),
  base: '/',
  publicDir: false,
  plugins: [react(), bundleBudget()],
  build: {
    outDir: fileURLToPath(new URL('./dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // The polyfill would be an inline script, which the CSP forbids; every supported browser has modulepreload.
    modulePreload: { polyfill: false },
    // Inlined assets would become data: URLs in CSS or scripts; keep every asset a file under /assets/.
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
});

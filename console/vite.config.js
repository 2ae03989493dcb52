// Builds the console into the Python package (functions_runtime/console/static), where
// `functions serve` serves it at / with a strict Content-Security-Policy.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const out = fileURLToPath(new URL('../functions_runtime/console/static', import.meta.url));

export default defineConfig({
  base: '/',
  build: {
    outDir: out,
    emptyOutDir: true,
    assetsDir: 'assets',
    assetsInlineLimit: 0, // no data: URLs for assets
    modulePreload: { polyfill: false }, // no inline script
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
  },
  test: {
    environment: 'node',
    include: ['test/**/*.test.js'],
  },
});

/**
 * The dashboard's build: served by the API server at /app (src/http/plugins/static.ts),
 * so every asset URL starts with /app/ and carries a content hash. `npm run dev:web`
 * serves it with hot reload and sends the API's paths to a running server.
 */
import react from '@vitejs/plugin-react'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

const root = fileURLToPath(new URL('.', import.meta.url))
const api = 'http://127.0.0.1:3000'

export default defineConfig({
  root,
  base: '/app/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // No inline scripts or data: URLs in the output: the server's CSP allows only files from itself.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false
  },
  server: {
    port: 5173,
    strictPort: true,
    proxy: { '/v1': { target: api, changeOrigin: false } }
  }
})

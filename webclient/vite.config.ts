/// <reference types="vitest/config" />
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";
import preact from "@preact/preset-vite";
import { VitePWA } from "vite-plugin-pwa";

const outDir = fileURLToPath(new URL("../api/webdist", import.meta.url));
const apiTarget = process.env.ANDON_DEV_API ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [
    preact(),
    // The service worker (src/sw/sw.ts) at /sw.js: built by vite-plugin-pwa, which injects the
    // Workbox precache list of the finished build. A classic script (IIFE), as module service
    // workers are not supported by every browser we target. The web manifest and the
    // registration are the app's own (public/manifest.webmanifest, platform/push.ts).
    VitePWA({
      strategies: "injectManifest",
      srcDir: "src/sw",
      filename: "sw.ts",
      injectRegister: false,
      manifest: false,
      injectManifest: {
        rollupFormat: "iife",
        globPatterns: ["**/*.{js,css,html,png,svg,ico,webmanifest}"],
        minify: true,
        sourcemap: false,
      },
    }),
  ],
  build: {
    outDir,
    emptyOutDir: true,
    sourcemap: true,
    target: "es2022",
  },
  server: {
    proxy: {
      // The server checks Origin on cookie-authenticated sockets and state changes;
      // the dev server's own origin is not in ALLOWED_ORIGINS, so present the API's.
      "/api": { target: apiTarget, changeOrigin: true, headers: { origin: apiTarget } },
      "/ws": { target: apiTarget, ws: true, changeOrigin: true, headers: { origin: apiTarget } },
    },
  },
  test: {
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    environment: "node",
    pool: "forks",
    restoreMocks: true,
  },
});

/// <reference types="vitest/config" />
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build, defineConfig, type Plugin } from "vite";
import preact from "@preact/preset-vite";

const root = fileURLToPath(new URL(".", import.meta.url));
const outDir = fileURLToPath(new URL("../api/webdist", import.meta.url));
const apiTarget = process.env.ANDON_DEV_API ?? "http://127.0.0.1:8000";

/**
 * Builds the service worker as a separate classic (IIFE) script at /sw.js.
 *
 * It cannot be a second entry of the app build: Rollup would share chunks between
 * the two and emit ES modules, and module service workers are not supported by
 * every browser we target. The precache list (the shell's hashed assets) is only
 * known once the app bundle is written, so it is injected as a build-time constant.
 */
function serviceWorkerPlugin(): Plugin {
  const shellFiles = new Set<string>();
  let isBuild = false;
  let publicDir = "";
  return {
    name: "andon-service-worker",
    apply: "build",
    configResolved(config) {
      isBuild = config.command === "build" && !config.build.lib;
      publicDir = config.publicDir;
    },
    generateBundle(_options, bundle) {
      for (const fileName of Object.keys(bundle)) {
        if (fileName.endsWith(".map")) continue;
        shellFiles.add(`/${fileName}`);
      }
    },
    async closeBundle() {
      if (!isBuild) return;
      // The app's hashed bundle plus everything copied from public/ (manifest, icons).
      for (const file of publicDir ? listFiles(publicDir) : []) shellFiles.add(`/${file}`);
      const precache = ["/", ...[...shellFiles].filter((f) => f !== "/index.html").sort()];
      const version = await digest(precache.join("\n"));
      await build({
        configFile: false,
        root,
        logLevel: "warn",
        define: {
          __ANDON_PRECACHE__: JSON.stringify(precache),
          __ANDON_CACHE_VERSION__: JSON.stringify(version),
        },
        build: {
          outDir,
          emptyOutDir: false,
          copyPublicDir: false,
          minify: true,
          sourcemap: false,
          lib: {
            entry: fileURLToPath(new URL("src/sw/sw.ts", import.meta.url)),
            formats: ["iife"],
            name: "andonServiceWorker",
            fileName: () => "sw.js",
          },
        },
      });
    },
  };
}

function listFiles(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...listFiles(`${dir}/${entry.name}`, rel));
    else if (!entry.name.startsWith(".")) out.push(rel);
  }
  return out;
}

async function digest(text: string): Promise<string> {
  const { createHash } = await import("node:crypto");
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

export default defineConfig({
  plugins: [preact(), serviceWorkerPlugin()],
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

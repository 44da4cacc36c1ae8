/** Injected by the build (vite.config.ts): the shell's files and a digest of them. */
declare const __ANDON_PRECACHE__: string[];
declare const __ANDON_CACHE_VERSION__: string;

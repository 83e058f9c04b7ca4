// Bundles the preload (after `tsc -b`): dist/index.js and the packages it loads become one file,
// bundle/index.js; bundle/preload.js and bundle/register.js are dist's, requiring it. Why: loading
// about 390 small modules makes node's module loader hot enough that V8 compiles it with Maglev and
// TurboFan during start-up, which maps several MiB of the node binary's compiler code an idle
// application never touches, and resolving them takes most of the preload's start-up time (README:
// Performance, start-up and memory). Lazy requires stay lazy: esbuild runs a module's body on its
// first require. Kept out: import-in-the-middle (the ESM loader hook that register.mjs registers
// talks to that one instance) and packages that are not installed (optional transports).
import { build } from 'esbuild';
import { copyFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// Whitespace and comments out: a comment's non-ASCII character made V8 hold the whole source as a
// two-byte string (2.7 MiB instead of 1.4 unminified, all of it resident). keepNames: classes and
// functions keep their names where bundling would rename them (TraceAPI2, …), for diagnostics and
// stack traces (+2 ms start-up, +0.3 MiB); bundle/index.js.map maps back (node --enable-source-maps).
await build({
  entryPoints: [join(here, 'dist', 'index.js')],
  outfile: join(here, 'bundle', 'index.js'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node22',
  logLevel: 'warning',
  legalComments: 'none',
  charset: 'ascii',
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  sourcemap: 'linked',
  external: ['import-in-the-middle', '@opentelemetry/winston-transport'],
});

// The entry points are dist's as they are: their require('./index') finds the bundle beside them, and
// their source maps point to ../src as from dist/.
for (const entry of ['preload', 'register']) {
  for (const ext of ['.js', '.js.map']) copyFileSync(join(here, 'dist', entry + ext), join(here, 'bundle', entry + ext));
}

// The test helpers (test/helpers/*.ts: the real collector, child processes, records on disk) for the
// benches that drive the same real processes, instead of a second copy of them. They are TypeScript
// for Jest; here a module hook compiles them with @swc/core (as @swc/jest does) to CommonJS on load.
import { createRequire, registerHooks } from 'node:module';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(path.join(root, 'package.json'));
const swc = require('@swc/core');
const helpers = path.join(root, 'test', 'helpers') + path.sep;

registerHooks({
  resolve(specifier, context, next) {
    // the helpers import one another without an extension, as TypeScript does
    if (specifier.startsWith('.') && context.parentURL?.startsWith('file:') && fileURLToPath(context.parentURL).startsWith(helpers) && !path.extname(specifier)) {
      return next(`${specifier}.ts`, context);
    }
    return next(specifier, context);
  },
  load(url, context, next) {
    if (!url.startsWith('file:') || !url.endsWith('.ts') || !fileURLToPath(url).startsWith(helpers)) return next(url, context);
    const filename = fileURLToPath(url);
    const { code } = swc.transformSync(readFileSync(filename, 'utf8'), {
      filename,
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
      module: { type: 'commonjs' },
    });
    return { format: 'commonjs', source: code, shortCircuit: true };
  },
});

/** require() of one helper by its name under test/helpers, e.g. helper('collector'). */
export const helper = (name) => require(path.join(helpers, `${name}.ts`));

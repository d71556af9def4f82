// Builds injector/snippet_gen.json from the readable snippet sources:
// esbuild (pinned in package.json / package-lock.json) bundles
// injector/snippet.js with injector/snippet_common.js once per combination
// of its compile-time features and minifies it; the shutdown-only script
// likewise. Run through `go generate ./injector` (which installs the pinned
// esbuild with `npm ci` when it is missing; offline once installed).
//
// The output records the SHA-256 of every input, so that a plain Go test
// (TestSnippetGenerated, no Node needed) fails when a source changed and
// the generated file was not rebuilt.
import {createHash} from 'node:crypto';
import {readFileSync, writeFileSync} from 'node:fs';
import {dirname, join, relative} from 'node:path';
import {fileURLToPath} from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const injector = join(root, 'injector');

// The inputs whose hashes go into the output, relative to the repository
// root. snippet_test.go lists the same files.
const inputs = [
  'injector/snippet.js',
  'injector/snippet_common.js',
  'injector/snippet_shutdown.js',
  'tools/snippet/build.mjs',
  'tools/snippet/package-lock.json',
];

// Feature bits; the Go side (snippetVariant) uses the same order.
const features = ['LOADER', 'REFRESH', 'SALESFORCE', 'SHUTDOWN'];

async function minify(entry, define) {
  const result = await esbuild.build({
    entryPoints: [join(injector, entry)],
    bundle: true,
    write: false,
    format: 'iife',
    minify: true,
    target: 'es2019',
    charset: 'ascii',
    legalComments: 'none',
    define,
    logLevel: 'error',
  });
  return result.outputFiles[0].text.trim();
}

// split cuts a minified snippet at its SETTINGS and OPTIONS placeholders.
function split(code, name) {
  const parts = code.split(/\b(SETTINGS|OPTIONS)\b/);
  if (parts.length !== 5 || parts[1] !== 'SETTINGS' || parts[3] !== 'OPTIONS') {
    throw new Error(`${name}: want SETTINGS then OPTIONS exactly once each in the minified code`);
  }
  return {prefix: parts[0], between: parts[2], suffix: parts[4]};
}

const out = {
  generator: 'tools/snippet/build.mjs',
  esbuild: esbuild.version,
  sources: {},
  shutdown: await minify('snippet_shutdown.js', {}),
  variants: [],
};
for (const path of inputs) {
  out.sources[path] = createHash('sha256').update(readFileSync(join(root, path))).digest('hex');
}
for (let bits = 0; bits < 1 << features.length; bits++) {
  const define = {};
  const on = [];
  features.forEach((f, i) => {
    define[f] = bits & (1 << i) ? 'true' : 'false';
    if (bits & (1 << i)) on.push(f.toLowerCase());
  });
  const name = on.join('+') || 'core';
  out.variants.push({features: name, ...split(await minify('snippet.js', define), name)});
}

const target = join(injector, 'snippet_gen.json');
writeFileSync(target, JSON.stringify(out, null, 1) + '\n');
for (const v of out.variants) {
  console.log(`${v.features}: ${v.prefix.length + v.between.length + v.suffix.length} bytes`);
}
console.log(`shutdown: ${out.shutdown.length} bytes; wrote ${relative(root, target)}`);

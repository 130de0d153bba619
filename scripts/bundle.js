#!/usr/bin/env node
// The second step of `npm run build`: dist/main.js (tsc's output, from `nest build`) and the packages it loads are
// bundled with esbuild into one file that replaces it, so that the server starts from one file instead of about
// 1 900 (resolving, reading and compiling them was most of its start-up: bench/README.md, change 25). The rest of
// dist/ stays as tsc wrote it (`nest start --watch` and the tests that load dist/app.factory.js use it).
// Why esbuild and not Nest CLI's webpack builder: it bundles tsc's output as is in about 3 s, with no loader to
// configure; the NestJS docs' webpack route compiles the TypeScript again through ts-loader.
'use strict';
const esbuild = require('esbuild');
const { readFileSync, writeFileSync } = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const BANNER = '// dm-jobqueue: dist/main.js and its packages bundled by scripts/bundle.js (npm run build).';

/**
 * Packages left to Node's own loader at run time (required from node_modules as before), each for a reason. A
 * package's dependencies go with it: a package loaded by one of these is not bundled unless the service loads it too.
 */
const EXTERNAL = {
  'swagger-ui-dist': 'serves the files of its own directory at /docs',
  '@bull-board/*': 'the dashboard: loaded only when configured, and serves the UI files of its own directory',
  '@opentelemetry/*': 'tracing: loaded only when it is on; the API and the SDK must stay one copy',
  pino: 'starts its transports (pino-pretty in develop) as worker threads from files beside its own',
  ioredis: 'reads the package.json beside it (the version it gives Redis with CLIENT SETINFO)',
  'msgpackr-extract': 'a native addon, optional (msgpackr falls back to JavaScript)',
};

/**
 * Bundled files that name their own location (which becomes dist/ once bundled), each read and found harmless. Any
 * other bundled file that does fails the build: it would look for its files in the wrong directory.
 */
const REVIEWED = {
  'node_modules/@nestjs/common/pipes/file/file-type.validator.js':
    'require.resolve of the optional file-type package, from dist/ as well; the service validates no files',
  'node_modules/@fastify/view/index.js': 'a default template directory; the service renders no templates',
  'node_modules/bullmq/dist/cjs/classes/worker.js':
    'the path of a sandboxed processor; the service runs its processor in its own process',
  'node_modules/@nestjs/terminus/dist/health-indicator/microservice/grpc.health.js':
    'the gRPC health check proto file; the service checks no gRPC service',
  'dist/observability/logging/logger.factory.js': 'require.resolve of pino-pretty, found from dist/ as well',
  'node_modules/msgpackr/dist/node.cjs':
    'requires msgpackr-extract (EXTERNAL) from its own file, found from dist/ as well',
};

/** Names its own location: what a bundled file must not do unreviewed (see REVIEWED). */
const SELF_LOCATING = /\b__dirname\b|\b__filename\b|\brequire\.resolve\b|\bimport\.meta\.url\b/;

/** The bundled files (paths relative to the project) that name their own location and are not in `reviewed`. */
function unreviewedSelfLocating(files, reviewed, read = (file) => readFileSync(path.join(ROOT, file), 'utf8')) {
  return files.filter((file) => !(file in reviewed) && SELF_LOCATING.test(read(file)));
}

/**
 * A package that cannot be resolved stays a require() that fails at run time, as it did before bundling: the
 * optional peers that Nest and terminus try in a try/catch (@nestjs/microservices, @nestjs/typeorm, …).
 */
const optionalPeers = {
  name: 'optional-peers',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData === 'probe') return undefined;
      const found = await build.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        importer: args.importer,
        pluginData: 'probe',
      });
      return found.errors.length > 0 ? { path: args.path, external: true } : found;
    });
  },
};

/** esbuild's build of dist/main.js with its packages, held in memory (outputFiles) until it has been checked. */
function buildBundle(entry) {
  return esbuild.build({
    entryPoints: [entry],
    outfile: entry,
    allowOverwrite: true,
    bundle: true,
    platform: 'node',
    target: 'node24',
    // Nest names modules and log contexts after their classes: no renamed class may lose its name.
    keepNames: true,
    // Not minified: a stack trace stays readable without the map; `node --enable-source-maps` maps it to src/.
    sourcemap: 'linked',
    legalComments: 'none',
    banner: { js: BANNER },
    external: Object.keys(EXTERNAL),
    plugins: [optionalPeers],
    metafile: true,
    write: false,
    logLevel: 'warning',
  });
}

async function bundle() {
  const entry = path.join(DIST, 'main.js');
  if (readFileSync(entry, 'utf8').startsWith(BANNER)) {
    throw new Error('dist/main.js is already a bundle: run `npm run build` (nest build, then this script)');
  }
  let result;
  try {
    result = await buildBundle(entry);
  } catch (error) {
    // esbuild's binary comes as an optional dependency (@esbuild/<platform>-<arch>), which `npm ci --omit=optional`
    // leaves out (docs/OPERATIONS.md, "Node.js"). The server works the same from tsc's output; it starts slower.
    if (!/could not be found, and is needed by esbuild/.test(error.message)) throw error;
    process.stderr.write(
      'bundle: skipped, esbuild has no binary here (installed with --omit=optional?): dist/main.js stays as tsc ' +
        'wrote it, which works the same and starts slower\n',
    );
    return;
  }
  const bundled = Object.keys(result.metafile.inputs).map((input) =>
    path.relative(ROOT, path.resolve(process.cwd(), input)),
  );
  const unreviewed = unreviewedSelfLocating(bundled, REVIEWED);
  if (unreviewed.length > 0) {
    throw new Error(
      `bundled files that look for files beside themselves (add the package to EXTERNAL, or read the file and ` +
        `add it to REVIEWED in scripts/bundle.js): ${unreviewed.join(', ')}`,
    );
  }
  const stale = Object.keys(REVIEWED).filter((file) => !bundled.includes(file));
  if (stale.length > 0) throw new Error(`REVIEWED names files no longer bundled: ${stale.join(', ')}`);
  for (const output of result.outputFiles) writeFileSync(output.path, output.contents);
  const bytes = result.outputFiles.find((output) => output.path === entry).contents.length;
  process.stdout.write(`bundle: dist/main.js, ${bundled.length} files, ${(bytes / 2 ** 20).toFixed(1)} MiB\n`);
}

if (require.main === module) {
  bundle().catch((error) => {
    process.stderr.write(`bundle: ${error.message}\n`);
    process.exit(1);
  });
}

module.exports = { EXTERNAL, REVIEWED, unreviewedSelfLocating };

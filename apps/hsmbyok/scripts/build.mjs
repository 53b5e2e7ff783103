// Bundles the CLI with esbuild: one file resolved at build time instead of hundreds resolved at every
// start (start-up is most of a wrap's wall time: see bench/hsmbyok.mjs). Workspace packages are bundled
// from their TypeScript sources (`source` condition); the native addons stay external and are only
// required when a command reaches the HSM, so --help and --version never load them.
// Also writes dist/build-info.json, the date/time the banner prints, like the original's __DATE__/__TIME__.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const dist = new URL('../dist/', import.meta.url);
rmSync(dist, { recursive: true, force: true });

// The cloud commands (and the Azure/AWS SDKs they pull in, several MB) go into a second bundle, dist/cloud.cjs,
// that cli.cjs requires only when `hsmbyok azure|aws ...` runs: the drop-in start-up does not parse them.
// The `import()` in cli.ts becomes a CommonJS require of ./cloud.cjs through a one-line stub: no ESM loader at
// run time, and the launcher can run cli.cjs from a V8 code cache (vm.Script has no dynamic-import hook).
const cloudSplit = {
  name: 'cloud-bundle',
  setup(b) {
    b.onResolve({ filter: /commands\/cloud\/index\.js$/ }, (args) =>
      args.importer.endsWith('cli.ts') ? { path: 'cloud-stub', namespace: 'cloud-stub' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'cloud-stub' }, () => ({
      // By absolute path: the launcher hands the bundle its own `require` (see bundleRequire).
      contents: "module.exports = require(__dirname + '/cloud.cjs');",
      loader: 'js',
    }));
  },
};

// cli.cjs's `createRequire(import.meta.url)` calls (the native addons, node:tty) become the `require` the
// launcher passes in, its own: same node_modules above bin/ and dist/, and node:module, which costs ~0.4 ms
// to load, is never loaded on the drop-in path.
const bundleRequire = {
  name: 'bundle-require',
  setup(b) {
    b.onResolve({ filter: /^node:module$/ }, () => ({ path: 'node:module', namespace: 'bundle-require' }));
    b.onLoad({ filter: /.*/, namespace: 'bundle-require' }, () => ({
      contents: 'export const createRequire = () => require;',
      loader: 'js',
    }));
  },
};

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const now = new Date();
const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n) => String(n).padStart(2, '0');
// __DATE__ is "Mmm dd yyyy" with the day space-padded; __TIME__ is "hh:mm:ss".
const date = `${months[now.getMonth()]} ${String(now.getDate()).padStart(2, ' ')} ${now.getFullYear()}`;
const time = `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
const buildInfo = { version: pkg.version, date, time };

const common = {
  bundle: true,
  // CommonJS in one file: require() is synchronous, so start-up never waits on the ESM loader's async
  // file reads, and V8 only pre-parses the functions a command does not call.
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  conditions: ['source'],
  external: ['pkcs11js', 'koffi'],
  define: { 'import.meta.url': '__byokModuleUrl', __HSMBYOK_BUILD_INFO__: JSON.stringify(buildInfo) },
  // Whitespace and syntax only: names stay readable in stack traces (HSMBYOK_DEBUG=1), and a smaller file is
  // less to read and parse at every start.
  minifyWhitespace: true,
  minifySyntax: true,
  banner: { js: "const __byokModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
};

await build({
  ...common,
  entryPoints: { cloud: 'src/commands/cloud/index.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
});

await build({
  ...common,
  // In cli.cjs import.meta.url only feeds createRequire, which takes a path as well as a URL: no URL is
  // built at start-up. (cloud.cjs keeps a real file URL: some of its dependencies parse it.)
  banner: { js: 'const __byokModuleUrl = __filename;' },
  plugins: [cloudSplit, bundleRequire],
  entryPoints: { cli: 'src/cli.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
});

writeFileSync(new URL('build-info.json', dist), `${JSON.stringify(buildInfo, null, 2)}\n`);

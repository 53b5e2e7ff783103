#!/usr/bin/env node
// Launcher: runs ../dist/cli.cjs, one esbuild bundle of the CLI (`pnpm build` makes it). Start-up is most of a
// wrap's wall time (bench/hsmbyok.mjs), so this file stays CommonJS (no ESM loader) and runs the bundle from a
// V8 code cache when it has one: the bytecode V8 compiled for the previous successful run, which saves
// parsing and compiling the bundle again (what Node 22 calls module.enableCompileCache, done by hand for
// Node 20).
//
// The cache lives in $XDG_CACHE_HOME/hsmbyok (default ~/.cache/hsmbyok), never in a shared temp folder: a
// cache file is code this process runs, so it is used only when it and its folder belong to the current
// user and nobody else can write them. It holds compiled source only (V8 code cache), never run-time data
// such as PINs or key bytes. HSMBYOK_COMPILE_CACHE=0 turns it off; HSMBYOK_DEBUG=1 reports hits and misses.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const bundle = path.join(__dirname, '..', 'dist', 'cli.cjs');
const debug = process.env.HSMBYOK_DEBUG === '1';

function note(message) {
  if (debug) process.stderr.write(`DEBUG: compile cache: ${message}\n`);
}

function cacheDirectory() {
  if (process.env.HSMBYOK_COMPILE_CACHE === '0' || typeof process.getuid !== 'function') return undefined;
  const base = process.env.XDG_CACHE_HOME || (process.env.HOME ? path.join(process.env.HOME, '.cache') : '');
  return path.isAbsolute(base) ? path.join(base, 'hsmbyok') : undefined;
}

/** Ours alone: owned by this user, writable by nobody else, and not a symbolic link. */
function isPrivate(stat) {
  return stat.uid === process.getuid() && (stat.mode & 0o022) === 0;
}

function readCache(file) {
  let fd;
  try {
    const dir = fs.lstatSync(path.dirname(file));
    if (!dir.isDirectory() || !isPrivate(dir)) return undefined;
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const stat = fs.fstatSync(fd);
    if (!stat.isFile() || !isPrivate(stat)) return undefined;
    const data = Buffer.alloc(stat.size);
    fs.readSync(fd, data, 0, stat.size, 0);
    return data;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function writeCache(file, data) {
  const dir = path.dirname(file);
  const temp = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = fs.lstatSync(dir);
    if (!stat.isDirectory() || !isPrivate(stat))
      return note(`${dir} is not private to this user: not written`);
    // Stale entries of this command (earlier builds, other Node versions) go first.
    const prefix = `${path.basename(file).split('-', 2).join('-')}-`;
    for (const name of fs.readdirSync(dir)) {
      if (name.startsWith(prefix) && name !== path.basename(file))
        fs.rmSync(path.join(dir, name), { force: true });
    }
    const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    try {
      fs.writeSync(fd, data);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, file);
    note(`wrote ${file}`);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    note(`not written (${error.code ?? error.message})`);
  }
}

/** One cache per command that touches an HSM or a cloud: each compiles different functions. */
function cachedCommand(argv) {
  const first = argv.find((arg) => arg.startsWith('--generate') || arg === '--check' || !arg.startsWith('-'));
  const names = { '--generate-and-wrap-target-key': 'wrap', '--check': 'check', azure: 'azure', aws: 'aws' };
  return first === undefined ? undefined : names[first];
}

/** The bundle's text and the stat that names its build, from one open file. */
function readBundle() {
  const fd = fs.openSync(bundle, fs.constants.O_RDONLY);
  try {
    const stat = fs.fstatSync(fd);
    const data = Buffer.allocUnsafe(stat.size);
    let read = 0;
    while (read < stat.size) {
      const n = fs.readSync(fd, data, read, stat.size - read, read);
      if (n === 0) break;
      read += n;
    }
    return { stat, source: data.toString('utf8', 0, read) };
  } finally {
    fs.closeSync(fd);
  }
}

const argv = process.argv.slice(2);
let stat;
let source;
try {
  ({ stat, source } = readBundle());
} catch (error) {
  process.stderr.write(
    `ERROR: ${bundle} is missing (${error.code ?? 'unreadable'}): build hsmbyok first (pnpm build, or bash scripts/setup.sh)\n`,
  );
  process.exit(1);
}
const directory = cacheDirectory();
const command = directory && cachedCommand(argv);
let cacheFile;
let cachedData;
if (command) {
  // The bundle's size and time stamp name the build; V8 checks its own version and flags inside the data.
  const build = `${stat.size.toString(36)}-${Math.trunc(stat.mtimeMs).toString(36)}`;
  cacheFile = path.join(directory, `cli-${command}-${build}-${process.version}-${process.arch}.v8cache`);
  cachedData = readCache(cacheFile);
}
// CommonJS's own wrapper, written out: node:module (Module.wrap, createRequire) costs ~0.4 ms to load. The
// bundle gets this file's `require`: the same node_modules above bin/ and dist/, and its one relative
// require (./cloud.cjs) is by absolute path (scripts/build.mjs).
const wrapped = `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;
const script = new vm.Script(wrapped, { filename: bundle, cachedData });
if (cachedData) note(`${script.cachedDataRejected ? 'rejected' : 'hit'} ${cacheFile}`);
const module_ = { exports: {} };
script
  .runInThisContext()
  .call(module_.exports, module_.exports, require, module_, bundle, path.dirname(bundle));

module_.exports.main(argv).then((code) => {
  process.exitCode = code;
  // After a successful run the cache holds every function that run compiled, the whole hot path.
  if (cacheFile && code === 0 && (!cachedData || script.cachedDataRejected)) {
    writeCache(cacheFile, script.createCachedData());
  }
});

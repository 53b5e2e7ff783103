#!/usr/bin/env node
// Launcher only: everything lives in ../dist/cli.cjs, one esbuild bundle (run `pnpm build` first). It is
// required, not imported: a synchronous require of one file is the fastest start Node 20 offers, and
// start-up is most of a wrap's wall time (bench/hsmbyok.mjs).
import { createRequire } from 'node:module';

const { main } = createRequire(import.meta.url)('../dist/cli.cjs');
process.exitCode = await main(process.argv.slice(2));

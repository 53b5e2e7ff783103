#!/usr/bin/env node
// Launcher only: everything lives in ../dist (run `pnpm build` first). Kept tiny so start-up stays fast.
import { main } from '../dist/cli.js';

process.exitCode = await main(process.argv.slice(2));

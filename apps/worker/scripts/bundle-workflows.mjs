// Build step: bundles the ceremony workflows once into dist/workflow-bundle.js, which dist/main.js loads
// instead of running webpack at every worker start (faster start, and webpack's memory never counts in the
// worker's peak RSS). Runs after tsc (see package.json "build").
import { writeFile } from 'node:fs/promises';
import { bundleCeremonyWorkflows, PREBUILT_BUNDLE } from '../dist/worker.js';

const bundle = await bundleCeremonyWorkflows();
await writeFile(PREBUILT_BUNDLE, bundle.code);
console.log(`wrote ${PREBUILT_BUNDLE} (${(bundle.code.length / 1024).toFixed(0)} KiB)`);

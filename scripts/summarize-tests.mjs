// Sums vitest's JSON reports over every workspace package into the line CI reads: `N passed, N failed`.
// A package with a test script but no report (it crashed before reporting) counts as one failure.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
let passed = 0;
let failed = 0;
let skipped = 0;
const lines = [];
for (const group of ['packages', 'apps', 'infra']) {
  const dir = join(root, group);
  if (!existsSync(dir)) continue;
  for (const name of readdirSync(dir)) {
    const pkgFile = join(dir, name, 'package.json');
    if (!existsSync(pkgFile)) continue;
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
    if (!pkg.scripts?.test) continue;
    const report = join(dir, name, '.reports', 'vitest.json');
    if (!existsSync(report)) {
      failed += 1;
      lines.push(`${pkg.name}: no test report (the suite did not run to the end)`);
      continue;
    }
    const r = JSON.parse(readFileSync(report, 'utf8'));
    // Files that failed to load have no assertions but count as a failed suite.
    const brokenFiles = r.testResults.filter(
      (f) => f.status === 'failed' && f.assertionResults.length === 0,
    ).length;
    const p = r.numPassedTests;
    const f = r.numFailedTests + brokenFiles;
    const s = r.numPendingTests + r.numTodoTests;
    passed += p;
    failed += f;
    skipped += s;
    lines.push(`${pkg.name}: ${p} passed, ${f} failed${s ? `, ${s} skipped` : ''}`);
  }
}
for (const line of lines) console.log(line);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);

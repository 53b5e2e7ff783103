import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The Debian package that carries each tool we shell out to, so a missing tool says what to install. */
const PACKAGE_OF_TOOL: Readonly<Record<string, string>> = {
  'softhsm2-util': 'softhsm2',
  'pkcs11-tool': 'opensc',
  gcc: 'gcc',
  python3: 'python3',
  expect: 'expect',
};

export class MissingToolError extends Error {
  readonly code = 'TESTKIT_MISSING_TOOL';
  constructor(readonly tool: string) {
    const pkg = PACKAGE_OF_TOOL[tool];
    super(
      `required tool '${tool}' was not found on PATH` +
        (pkg === undefined ? '' : `; install it with 'apt-get install ${pkg}'`),
    );
    this.name = 'MissingToolError';
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Absolute path of `name` on PATH (or `name` itself when it is already a path); throws MissingToolError. */
export function requireTool(name: string): string {
  if (name.includes('/')) {
    if (isExecutable(name)) return name;
    throw new MissingToolError(name);
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  throw new MissingToolError(name);
}

/** First of `candidates` that exists, or undefined. */
export function firstExisting(candidates: readonly string[]): string | undefined {
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.R_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

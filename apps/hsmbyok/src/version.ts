import { readFileSync } from 'node:fs';

/** The release this tool is a drop-in for: its interface (files, prompt, messages, exit codes) is kept. */
export const ORIGINAL_VERSION = '1.0.0.3';

export interface BuildInfo {
  readonly version: string;
  /** `Nov 23 2025`, the original's `__DATE__` shape. */
  readonly date: string;
  /** `20:11:00`, the original's `__TIME__` shape. */
  readonly time: string;
}

function readJson(url: URL): unknown {
  try {
    return JSON.parse(readFileSync(url, 'utf8'));
  } catch {
    return undefined;
  }
}

function field(value: unknown, key: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const found: unknown = (value as Record<string, unknown>)[key];
  return typeof found === 'string' ? found : undefined;
}

let cached: BuildInfo | undefined;

/**
 * dist/build-info.json is written by the build (scripts/build-info.mjs); running from sources (tests) falls
 * back to package.json, which sits one level above both src/ and dist/.
 */
export function buildInfo(): BuildInfo {
  if (cached) return cached;
  const built = readJson(new URL('./build-info.json', import.meta.url));
  const pkg = readJson(new URL('../package.json', import.meta.url));
  cached = {
    version: field(built, 'version') ?? field(pkg, 'version') ?? '0.0.0',
    date: field(built, 'date') ?? 'source',
    time: field(built, 'time') ?? 'unbuilt',
  };
  return cached;
}

/** `hsmbyok 1.1.0`: the tool name the `generator` field of targetBlob.byok starts with. */
export function toolName(): string {
  return `hsmbyok ${buildInfo().version}`;
}

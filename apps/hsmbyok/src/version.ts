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

function readJson(relative: string): unknown {
  try {
    return JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8'));
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

/** Set by the bundler (scripts/build.mjs) to what it also writes to dist/build-info.json. */
declare const __HSMBYOK_BUILD_INFO__: BuildInfo | undefined;

/**
 * The bundle carries its build info inline (no file read at start-up); running from sources (tests) reads
 * package.json, which sits one level above src/.
 */
export function buildInfo(): BuildInfo {
  if (cached) return cached;
  if (typeof __HSMBYOK_BUILD_INFO__ !== 'undefined') {
    cached = __HSMBYOK_BUILD_INFO__;
    return cached;
  }
  const built = readJson('./build-info.json');
  const pkg = readJson('../package.json');
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

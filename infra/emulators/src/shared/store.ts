/**
 * Persistence: one JSON document per emulator, rewritten atomically (temp file + rename) after every change,
 * so a crash or a restart never sees half a state. Emulated HSM private keys live in it, in the clear:
 * this is test infrastructure, and the state folder is the "HSM".
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export class JsonFile<T> {
  constructor(
    readonly path: string,
    private readonly parse: (value: unknown) => T,
  ) {}

  /** The stored document, or `fallback` when the file does not exist yet. */
  load(fallback: () => T): T {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if (isNotFound(err)) return fallback();
      throw err;
    }
    try {
      return this.parse(JSON.parse(text));
    } catch (cause) {
      throw new Error(`state file ${this.path} is not valid emulator state; delete it to start fresh`, {
        cause,
      });
    }
  }

  save(value: T): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof Error && 'code' in err && err.code === 'ENOENT';
}

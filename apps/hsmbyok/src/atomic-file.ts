/**
 * targetBlob.byok is written atomically: a temporary file created with O_EXCL next to it (same directory,
 * so the final rename cannot cross file systems), written, flushed, then renamed over the final name.
 * A failed run leaves neither a partial targetBlob.byok nor the temporary file.
 *
 * The original overwrote an existing targetBlob.byok. We keep the name (runbooks expect it) but never lose
 * the previous file: it is kept as `<name>.<UTC time>.bak` (hard link, else an O_EXCL copy) and a WARNING
 * names it.
 */
import { hash, randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  fsyncSync,
  linkSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ByokError } from '@byok/core';

export interface CommittedFile {
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
  /** Where the file that was there before now lives, if there was one. */
  readonly previousKeptAs?: string;
}

function fileError(action: string, path: string, error: unknown): ByokError {
  const code = (error as NodeJS.ErrnoException).code;
  // The original's codes: it could not open the file (CKR_FILE_NOT_FOUND) or not write it (CKR_FILE_IO).
  const ckr = code === 'ENOENT' || code === 'ENOTDIR' ? 'CKR_FILE_NOT_FOUND' : 'CKR_FILE_IO';
  return new ByokError(ckr, `cannot ${action} ${path} (${code ?? 'error'})`, { cause: error });
}

function utcStamp(now: Date): string {
  return now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** Keeps `path` under a fresh backup name without touching it; returns that name. */
function keepPrevious(path: string, now: Date): string {
  const stamp = utcStamp(now);
  for (let n = 0; n < 1000; n += 1) {
    const candidate = `${path}.${stamp}${n === 0 ? '' : `-${n}`}.bak`;
    try {
      linkSync(path, candidate);
      return candidate;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      // File systems without hard links (FAT, some network shares): copy, still refusing to overwrite.
      try {
        copyFileSync(path, candidate, constants.COPYFILE_EXCL);
        return candidate;
      } catch (copyError) {
        if ((copyError as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw fileError('keep a copy of the existing', path, copyError);
      }
    }
  }
  throw new ByokError('CKR_FILE_IO', `cannot find a free backup name for ${path}`);
}

/** The output name must be free for a file: a directory there would only fail at the very end. */
export function assertNotDirectory(path: string): void {
  let isDirectory = false;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    return; // absent (or unreadable: opening the temporary file next to it will say)
  }
  if (isDirectory) throw new ByokError('CKR_FILE_IO', `${path} is a directory; the output must be a file`);
}

/**
 * The output file of one run, from preflight to commit. Opening it early proves the directory is writable
 * before anything on the HSM changes.
 */
export class PendingFile {
  readonly path: string;
  readonly tempPath: string;
  #fd: number | undefined;
  #done = false;

  private constructor(path: string, tempPath: string, fd: number) {
    this.path = path;
    this.tempPath = tempPath;
    this.#fd = fd;
  }

  static create(path: string): PendingFile {
    assertNotDirectory(path);
    const tempPath = join(
      dirname(path),
      `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
    );
    try {
      const fd = openSync(tempPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
      return new PendingFile(path, tempPath, fd);
    } catch (error) {
      throw fileError('create a file next to', path, error);
    }
  }

  /** Whether committing will keep a previous file as a backup. */
  get replacesExisting(): boolean {
    return existsSync(this.path);
  }

  commit(content: string | Buffer, now: Date = new Date()): CommittedFile {
    if (this.#done || this.#fd === undefined)
      throw new ByokError('CKR_GENERAL_ERROR', 'output already finished');
    const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    const fd = this.#fd;
    try {
      let offset = 0;
      while (offset < data.length) offset += writeSync(fd, data, offset, data.length - offset);
      fsyncSync(fd);
      closeSync(fd);
      this.#fd = undefined;
    } catch (error) {
      this.discard();
      throw fileError('write', this.path, error);
    }
    let previousKeptAs: string | undefined;
    try {
      if (existsSync(this.path)) previousKeptAs = keepPrevious(this.path, now);
      renameSync(this.tempPath, this.path);
    } catch (error) {
      this.discard();
      throw error instanceof ByokError ? error : fileError('write', this.path, error);
    }
    this.#done = true;
    syncDirectory(dirname(this.path));
    return {
      path: this.path,
      bytes: data.length,
      sha256: hash('sha256', data, 'hex'),
      ...(previousKeptAs === undefined ? {} : { previousKeptAs }),
    };
  }

  /** Removes the temporary file; safe to call any number of times, and after commit (then a no-op). */
  discard(): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#fd !== undefined) {
      try {
        closeSync(this.#fd);
      } catch {
        // already closed
      }
      this.#fd = undefined;
    }
    try {
      unlinkSync(this.tempPath);
    } catch {
      // already gone
    }
  }
}

/** Makes the rename durable where the platform allows it (not on Windows, where directories cannot be opened). */
function syncDirectory(dir: string): void {
  if (process.platform === 'win32') return;
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // best effort: the data itself was fsync'ed before the rename
  }
}

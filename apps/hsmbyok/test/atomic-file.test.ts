import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ByokError } from '@byok/core';
import { beforeEach, describe, expect, it } from 'vitest';
import { PendingFile } from '../src/atomic-file.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hsmbyok-atomic-'));
});

describe('PendingFile', () => {
  it('creates an O_EXCL temporary file next to the target and renames it on commit', () => {
    const target = join(dir, 'targetBlob.byok');
    const pending = PendingFile.create(target);
    expect(readdirSync(dir)).toEqual([pending.tempPath.slice(dir.length + 1)]);
    expect(existsSync(target)).toBe(false);
    const written = pending.commit('{"a": 1}\n');
    expect(readdirSync(dir)).toEqual(['targetBlob.byok']);
    expect(readFileSync(target, 'utf8')).toBe('{"a": 1}\n');
    expect(written).toMatchObject({ path: target, bytes: 9 });
    expect(written.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(written.previousKeptAs).toBeUndefined();
  });

  it('discard removes the temporary file and leaves nothing', () => {
    const pending = PendingFile.create(join(dir, 'targetBlob.byok'));
    pending.discard();
    pending.discard();
    expect(readdirSync(dir)).toEqual([]);
    expect(() => pending.commit('x')).toThrow(ByokError);
  });

  it('keeps an existing file under a timestamped .bak name, never overwriting a .bak', () => {
    const target = join(dir, 'targetBlob.byok');
    writeFileSync(target, 'first');
    const now = new Date('2025-11-23T20:11:00.123Z');
    writeFileSync(`${target}.20251123T201100Z.bak`, 'older backup');
    const written = PendingFile.create(target).commit('second', now);
    expect(written.previousKeptAs).toBe(`${target}.20251123T201100Z-1.bak`);
    expect(readFileSync(`${target}.20251123T201100Z-1.bak`, 'utf8')).toBe('first');
    expect(readFileSync(`${target}.20251123T201100Z.bak`, 'utf8')).toBe('older backup');
    expect(readFileSync(target, 'utf8')).toBe('second');
  });

  it('refuses a directory as the output and a missing directory, before anything else happens', () => {
    mkdirSync(join(dir, 'targetBlob.byok'));
    expect(() => PendingFile.create(join(dir, 'targetBlob.byok'))).toThrow(/is a directory/);
    expect(() => PendingFile.create(join(dir, 'missing', 'x.byok'))).toThrow(
      expect.objectContaining({ code: 'CKR_FILE_NOT_FOUND' }),
    );
  });
});

/** Pieces the Azure and AWS commands share: key ops, files written atomically, error tails, the generator. */
import { type CloudError, isCloudError, KEY_OPS, type KeyOp } from '@byok/clouds';
import { ByokError, isByokError } from '@byok/core';
import { type CommittedFile, PendingFile } from '../../atomic-file.js';
import { toolName } from '../../version.js';
import { badArgument, type CloudContext, localPath, optional } from './context.js';

/** `--ops sign,verify` (JWK names, as az's --ops). */
export function keyOps(ctx: CloudContext): KeyOp[] | undefined {
  const text = optional(ctx, 'ops');
  if (text === undefined) return undefined;
  const ops = text
    .split(/[\s,]+/)
    .filter((op) => op !== '')
    .map((op) => {
      const found = KEY_OPS.find((k) => k.toLowerCase() === op.toLowerCase());
      if (!found) throw badArgument(`--ops: unknown operation '${op}'; allowed ${KEY_OPS.join(', ')}`);
      return found;
    });
  if (ops.length === 0) throw badArgument('--ops: name at least one operation');
  return ops;
}

/** Writes files all-or-nothing as far as the file system allows: every temporary first, then the renames. */
export function writeFiles(
  ctx: CloudContext,
  files: readonly { readonly path: string; readonly data: string | Buffer }[],
): CommittedFile[] {
  const pending = files.map((f) => ({ file: PendingFile.create(localPath(ctx, f.path)), data: f.data }));
  try {
    return pending.map(({ file, data }) => {
      const written = file.commit(data);
      if (written.previousKeptAs) {
        ctx.out.warning(
          `${written.path} already existed: the previous file is kept as ${written.previousKeptAs}`,
        );
      }
      return written;
    });
  } finally {
    for (const { file } of pending) file.discard();
  }
}

/** The same error, one line, with what was left behind or cleaned up appended. */
export function withTail(error: unknown, tail: string): unknown {
  if (tail === '') return error;
  if (isCloudError(error)) return (error as CloudError).amend(tail);
  if (isByokError(error))
    return new ByokError(error.code, `${error.message}${tail}`, { ckr: error.ckr, cause: error });
  return error;
}

/** `.byok` generator field / evidence: our tool and the token it came from. */
export function generatorOf(token: { readonly label: string; readonly firmware: string }): string {
  return `${toolName()}; ${token.label} ${token.firmware}`;
}

export function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

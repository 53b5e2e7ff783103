/**
 * `hsmbyok azure ...`: the Azure Key Vault / Managed HSM BYOK flow without az or openssl.
 *   kek create / kek download / import: the az-style split flow around the drop-in command;
 *   verify: the imported key against the HSM's copy;
 *   byok: the whole flow in one run, one line per step.
 */
import {
  type AzureKeyVaultTarget,
  cloudKeySpecFromCore,
  describeCloudKeySpec,
  type ImportedKey,
  type ImportPreparation,
  isCloudError,
  type KeyOp,
  type Verification,
} from '@byok/clouds';
import { generatorOf, keyOps, withTail, writeFiles } from './common.js';
import {
  badArgument,
  type CloudCommand,
  type CloudContext,
  choice,
  optional,
  readInput,
  required,
} from './context.js';
import { existingKey, type HsmSide, hsmProof, materialise, openHsmSide, wrapForPreparation } from './hsm.js';
import { Progress } from './progress.js';
import { azureTarget } from './target.js';

const KEK_SIZES = ['2048', '3072', '4096'] as const;
type KekSize = 2048 | 3072 | 4096;

function kekSize(ctx: CloudContext, name: string): KekSize | undefined {
  const size = choice(ctx, name, KEK_SIZES);
  return size === undefined ? undefined : (Number(size) as KekSize);
}

function printVerification(ctx: CloudContext, verification: Verification): void {
  for (const check of verification.checks) ctx.out.line(`proof: ${check.id}: ${check.detail}`);
  for (const note of verification.notes) ctx.out.line(`note: ${note}`);
}

function importedJson(imported: ImportedKey): Record<string, unknown> {
  return {
    keyId: imported.keyId,
    keyName: imported.keyName,
    version: imported.version,
    spec: describeCloudKeySpec(imported.spec),
    keyOps: imported.keyOps,
    publicKeyFingerprint: imported.publicKeyFingerprint,
  };
}

export const kekCreate: CloudCommand = async (ctx) => {
  const name = required(ctx, 'name', 'the KEK name');
  const bits = kekSize(ctx, 'size');
  const target = azureTarget(ctx);
  const kek = await target.createKek(name, { ...(bits ? { bits } : {}), abortSignal: ctx.signal });
  ctx.out.line(`created KEK ${name}: RSA-HSM ${kek.bits}, key_ops [import]`);
  ctx.out.line(`kid: ${kek.id}`);
  ctx.out.line(`fingerprint (SHA-256 of the public key): ${kek.fingerprint}`);
  ctx.out.line(
    `next: hsmbyok azure kek download --vault ${target.location} --name ${name}; put the kid in HsmConfig.ini`,
  );
  return { result: { kek: { name, id: kek.id, bits: kek.bits, fingerprint: kek.fingerprint } } };
};

export const kekDownload: CloudCommand = async (ctx) => {
  const name = required(ctx, 'name', 'the KEK name');
  const file = optional(ctx, 'file') ?? 'kekBlob.pem';
  const target = azureTarget(ctx);
  const kek = await target.getKek(name, { abortSignal: ctx.signal });
  const [written] = writeFiles(ctx, [{ path: file, data: kek.publicKeyPem }]);
  ctx.out.line(`wrote ${written?.path}: RSA-${kek.bits} KEK public key (BEGIN PUBLIC KEY)`);
  ctx.out.line(`kid: ${kek.id}`);
  ctx.out.line(`fingerprint (SHA-256 of the public key): ${kek.fingerprint}`);
  ctx.out.line('put the kid in HsmConfig.ini (kid = ...), then run: hsmbyok --generate-and-wrap-target-key');
  return {
    result: { kek: { name, id: kek.id, bits: kek.bits, fingerprint: kek.fingerprint }, output: written },
  };
};

const KTYS = ['RSA-HSM', 'EC-HSM', 'oct-HSM'] as const;
const CRVS = ['P-256', 'P-384', 'P-521', 'P-256K'] as const;

export const importByok: CloudCommand = async (ctx) => {
  const name = required(ctx, 'name', 'the key to import');
  const file = optional(ctx, 'byok') ?? 'targetBlob.byok';
  const kty = choice(ctx, 'kty', KTYS);
  if (!kty) throw badArgument('azure import: --kty is required (RSA-HSM, EC-HSM or oct-HSM)');
  const crv = choice(ctx, 'crv', CRVS);
  if (kty === 'EC-HSM' && !crv)
    throw badArgument('azure import: --kty EC-HSM needs --crv (P-256, P-384, P-521, P-256K)');
  if (kty !== 'EC-HSM' && crv) throw badArgument(`azure import: --crv applies to EC-HSM keys, not ${kty}`);
  const size = choice(ctx, 'size', ['128', '192', '256'] as const);
  if (size && kty !== 'oct-HSM') throw badArgument('azure import: --size applies to oct-HSM keys only');
  const ops: KeyOp[] =
    keyOps(ctx) ?? (kty === 'oct-HSM' ? ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'] : ['sign', 'verify']);
  const byok = readInput(ctx, file, 'the .byok file');
  const target = azureTarget(ctx);
  const imported = await target.importByokFile(
    name,
    byok,
    {
      kty,
      ...(crv ? { crv } : {}),
      keyOps: ops,
      ...(size ? { octBits: Number(size) as 128 | 192 | 256 } : {}),
    },
    { abortSignal: ctx.signal },
  );
  ctx.out.line(`imported ${file} as ${imported.keyId}`);
  ctx.out.line(`${describeCloudKeySpec(imported.spec)}, key_ops [${imported.keyOps.join(', ')}]`);
  if (imported.publicKeyFingerprint) {
    ctx.out.line(`public key fingerprint (SHA-256): ${imported.publicKeyFingerprint}`);
  }
  for (const note of imported.notes) ctx.out.line(`note: ${note}`);
  return { result: { imported: importedJson(imported), byok: file } };
};

export const verify: CloudCommand = async (ctx) => {
  const name = required(ctx, 'name', 'the imported key');
  const target = azureTarget(ctx);
  const side = await openHsmSide(ctx, undefined, { policies: false });
  try {
    const key = existingKey(side);
    const spec = key.spec;
    const imported = await target.getImportedKey(name, {
      abortSignal: ctx.signal,
      ...(spec.kind === 'aes' ? { octBits: spec.bits } : {}),
    });
    const verification = await target.verifyImport(imported, hsmProof(side, key), {
      abortSignal: ctx.signal,
    });
    ctx.out.line(`verified ${imported.keyId} against '${key.label}' on token "${side.open.token.label}"`);
    printVerification(ctx, verification);
    return { result: { imported: importedJson(imported), verification } };
  } finally {
    side.close();
  }
};

/** Finds the KEK to reuse (checked) or says to create one. */
async function kekPlan(
  ctx: CloudContext,
  target: AzureKeyVaultTarget,
  name: string,
): Promise<'reuse' | 'create'> {
  try {
    await target.getKek(name, { abortSignal: ctx.signal });
    return 'reuse';
  } catch (error) {
    if (isCloudError(error, 'KEY_NOT_FOUND')) return 'create';
    throw error;
  }
}

export const byok: CloudCommand = async (ctx) => {
  const keyName = required(ctx, 'name', 'the key to import');
  const kekName = optional(ctx, 'kek-name') ?? `${keyName}-kek`;
  const bits = kekSize(ctx, 'kek-size');
  const ops = keyOps(ctx);
  const deleteKek = ctx.argv.switches.has('delete-kek');
  const target = azureTarget(ctx);
  const progress = new Progress(ctx.out, 6);

  let side: HsmSide | undefined;
  let prep: ImportPreparation | undefined;
  let undoKey = (): void => {};
  let imported: ImportedKey | undefined;
  try {
    side = await progress.step(
      'open HSM',
      () => openHsmSide(ctx),
      (s) =>
        `token "${s.open.token.label}", ${s.config.targetKeyName} ` +
        `${s.plan.kind === 'existing' ? 'found' : 'to generate'} (${describeCloudKeySpec(cloudKeySpecFromCore(s.config.targetKeySpec))})`,
    );
    const hsm = side;
    const spec = cloudKeySpecFromCore(hsm.config.targetKeySpec);
    prep = await progress.step(
      'prepare KEK',
      async () => {
        const plan = await kekPlan(ctx, target, kekName);
        return target.prepareImport(
          {
            keyName,
            spec,
            ...(ops ? { keyOps: ops } : {}),
            hsmOaepHashes: hsm.oaepHashes,
            ...(plan === 'reuse' ? { existingKekName: kekName } : { kekName }),
            ...(bits ? { wrappingKeyBits: bits } : {}),
            cleanupOnFailure: true,
          },
          { abortSignal: ctx.signal },
        );
      },
      (p) =>
        `${p.created.length > 0 ? 'created' : 'reusing'} ${p.kek.id} (RSA-HSM ${p.kek.bits}, key_ops [import])`,
    );
    const preparation = prep;
    const { hsmKey, wrapped } = await progress.step(
      'wrap in the HSM',
      () => {
        const made = materialise(ctx, hsm);
        undoKey = made.undo;
        return { hsmKey: made.key, wrapped: wrapForPreparation(hsm, made.key, preparation) };
      },
      (w) =>
        `${w.hsmKey.label}${w.hsmKey.generated ? ' (generated)' : ''}, CKM_RSA_AES_KEY_WRAP (OAEP SHA-1, AES-256), ` +
        `${w.wrapped.length} bytes`,
    );
    imported = await progress.step(
      'import',
      () =>
        target.importWrappedKey(preparation, wrapped, {
          generator: generatorOf(hsm.open.token),
          abortSignal: ctx.signal,
        }),
      (i) => `${i.keyId}`,
    );
    const done = imported;
    const verification = await progress.step(
      'verify',
      () => target.verifyImport(done, hsmProof(hsm, hsmKey), { abortSignal: ctx.signal }),
      (v) => v.checks.map((c) => c.id).join(', '),
    );
    const cleanup = await progress.step(
      'clean up',
      async () =>
        deleteKek ? target.cleanup(preparation, { deleteKek: true, abortSignal: ctx.signal }) : undefined,
      (c) =>
        c
          ? `deleted ${c.deleted.join(', ') || 'nothing'} ${c.notes.join('; ')}`.trim()
          : `KEK kept: ${preparation.kek.id}`,
    );
    ctx.out.line(
      `imported: ${done.keyId} (${describeCloudKeySpec(done.spec)}, key_ops [${done.keyOps.join(', ')}])`,
    );
    printVerification(ctx, verification);
    for (const note of [...preparation.notes, ...done.notes]) ctx.out.line(`note: ${note}`);
    return {
      result: {
        cloud: target.cloud,
        vault: target.location,
        imported: importedJson(done),
        kek: {
          id: preparation.kek.id,
          fingerprint: preparation.kek.fingerprint,
          created: preparation.created,
        },
        target: { label: hsmKey.label, generated: hsmKey.generated },
        verification,
        cleanup: cleanup ?? { kept: [preparation.kek.id] },
        steps: progress.records,
        notes: preparation.notes,
      },
    };
  } catch (error) {
    let tail = '';
    if (imported) {
      tail = `; ${imported.keyId} was imported and is left in place: check it before use`;
    } else {
      undoKey();
      if (prep && prep.created.length > 0) {
        try {
          await target.cleanup(prep, { deleteKek: true });
          tail = `; the KEK this run created (${prep.kek.id}) was deleted`;
        } catch {
          tail = `; the KEK this run created (${prep.kek.id}) was left in place: delete it`;
        }
      }
    }
    throw withTail(error, tail);
  } finally {
    side?.close();
    target.close();
  }
};

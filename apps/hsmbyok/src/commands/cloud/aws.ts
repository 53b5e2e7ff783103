/**
 * `hsmbyok aws ...`: AWS KMS imported key material without the aws CLI or openssl.
 *   prepare: CreateKey (Origin EXTERNAL) or an existing key, GetParametersForImport -> wrapping key PEM,
 *            import token, importParameters.json;
 *   wrap:    the HSM wraps the target as the parameters say -> wrapped key material file;
 *   import:  ImportKeyMaterial;  verify: the KMS key against the HSM's copy;
 *   byok:    all of it in one run, one line per step.
 */
import { dirname, join } from 'node:path';
import {
  AWS_KEY_SPECS,
  type AwsKmsTarget,
  type AwsWrappingAlgorithm,
  awsKeySpec,
  CloudError,
  type CloudKeySpec,
  type CloudOaepHash,
  cloudKeySpecFromCore,
  cloudKeySpecOfAws,
  coreKeySpecFromCloud,
  describeCloudKeySpec,
  type ImportedKey,
  type ImportPreparation,
  isPreparationExpired,
  type Verification,
} from '@byok/clouds';
import { decodeByokBlob } from '@byok/core';
import { generatorOf, keyOps, withTail, writeFiles } from './common.js';
import {
  badArgument,
  type CloudCommand,
  type CloudContext,
  choice,
  flag,
  optional,
  readInput,
  required,
} from './context.js';
import {
  existingKey,
  type HsmSide,
  hsmProof,
  materialise,
  openHsmSide,
  readHsmConfig,
  wrapForPreparation,
} from './hsm.js';
import { Progress } from './progress.js';
import { awsTarget } from './target.js';

const ALGORITHMS: readonly AwsWrappingAlgorithm[] = [
  'RSAES_OAEP_SHA_1',
  'RSAES_OAEP_SHA_256',
  'RSA_AES_KEY_WRAP_SHA_1',
  'RSA_AES_KEY_WRAP_SHA_256',
];
const WRAPPING_KEY_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096'] as const;

export const PARAMETERS_FILE = 'importParameters.json';
export const WRAPPING_KEY_FILE = 'wrappingKey.pem';
export const TOKEN_FILE = 'importToken.bin';
export const MATERIAL_FILE = 'wrappedKeyMaterial.bin';

/** `--key-spec` (KMS names); undefined when not given. */
function keySpecArg(ctx: CloudContext): CloudKeySpec | undefined {
  const name = choice(ctx, 'key-spec', AWS_KEY_SPECS);
  return name === undefined ? undefined : cloudKeySpecOfAws(name);
}

function wrappingBits(ctx: CloudContext): 2048 | 3072 | 4096 | undefined {
  const spec = choice(ctx, 'wrapping-key-spec', WRAPPING_KEY_SPECS);
  return spec === undefined ? undefined : (Number(spec.slice(4)) as 2048 | 3072 | 4096);
}

/** `--expires ISO` (KEY_MATERIAL_EXPIRES) or `--no-expiry` (the default). */
function validTo(ctx: CloudContext): Date | undefined {
  const text = optional(ctx, 'expires');
  if (text === undefined) return undefined;
  if (flag(ctx, 'no-expiry')) throw badArgument('choose one of --expires and --no-expiry');
  const date = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(date.getTime())) {
    throw badArgument(`--expires ${JSON.stringify(text)}: an ISO 8601 date, e.g. 2026-12-31T00:00:00Z`);
  }
  return date;
}

/** The spec the target key has: --key-spec, else HsmConfig.ini's targetKeySpec. */
function specFor(
  ctx: CloudContext,
  side: HsmSide | undefined,
  fromArg: CloudKeySpec | undefined,
): CloudKeySpec {
  if (fromArg) return fromArg;
  if (side) return cloudKeySpecFromCore(side.config.targetKeySpec);
  throw badArgument(`${ctx.argv.command}: --key-spec is required (or --config HsmConfig.ini)`);
}

function printVerification(ctx: CloudContext, verification: Verification): void {
  for (const check of verification.checks) ctx.out.line(`proof: ${check.id}: ${check.detail}`);
  for (const note of verification.notes) ctx.out.line(`note: ${note}`);
}

function importedJson(imported: ImportedKey): Record<string, unknown> {
  return {
    keyArn: imported.keyId,
    keyMaterialId: imported.version,
    spec: describeCloudKeySpec(imported.spec),
    keySpec: awsKeySpec(imported.spec),
    keyOps: imported.keyOps,
    publicKeyFingerprint: imported.publicKeyFingerprint,
  };
}

function parametersDocument(prep: ImportPreparation): Record<string, unknown> {
  return {
    KeyId: prep.keyId,
    KeySpec: awsKeySpec(prep.spec),
    WrappingAlgorithm: prep.wrap.awsAlgorithm,
    WrappingKeySpec: `RSA_${prep.kek.bits}`,
    ParametersValidTo: prep.expiresAt,
    WrappingKeyFingerprint: prep.kek.fingerprint,
    preparation: prep,
  };
}

/** The preparation `aws prepare` wrote; refused when it is not ours or was altered. */
function readParameters(ctx: CloudContext, path: string): ImportPreparation {
  const text = readInput(ctx, path, 'the import parameters').toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw badArgument(`${path}: not JSON; use the ${PARAMETERS_FILE} that hsmbyok aws prepare wrote`);
  }
  const prep = (doc as { preparation?: unknown } | null)?.preparation as ImportPreparation | undefined;
  if (
    typeof prep !== 'object' ||
    prep === null ||
    prep.cloud !== 'aws-kms' ||
    typeof prep.keyId !== 'string' ||
    typeof prep.kek?.publicKeyPem !== 'string' ||
    typeof prep.wrap?.format !== 'string'
  ) {
    throw badArgument(`${path}: not an AWS KMS ${PARAMETERS_FILE} written by hsmbyok aws prepare`);
  }
  return prep;
}

/** SHA-1 only on SoftHSM: asking the library needs no login. */
async function hsmHashes(ctx: CloudContext): Promise<readonly CloudOaepHash[]> {
  if (optional(ctx, 'config') === undefined) return ['sha1', 'sha256'];
  const { config } = readHsmConfig(ctx);
  const hsm = await import('@byok/hsm-pkcs11');
  const module = hsm.Pkcs11Module.load(config.libraryName);
  try {
    return module.isSoftHsm ? ['sha1'] : ['sha1', 'sha256'];
  } finally {
    module.close();
  }
}

function printPreparation(ctx: CloudContext, prep: ImportPreparation): void {
  ctx.out.line(`key: ${prep.keyId} (${awsKeySpec(prep.spec)}, Origin EXTERNAL, PendingImport)`);
  ctx.out.line(`wrapping algorithm: ${prep.wrap.awsAlgorithm} under an RSA_${prep.kek.bits} wrapping key`);
  ctx.out.line(`parameters valid to: ${prep.expiresAt}`);
  for (const note of prep.notes) ctx.out.line(`note: ${note}`);
}

export const prepare: CloudCommand = async (ctx) => {
  const argSpec = keySpecArg(ctx);
  const keyId = optional(ctx, 'key-id');
  const algorithm = choice(ctx, 'algorithm', ALGORITHMS);
  const bits = wrappingBits(ctx);
  const ops = keyOps(ctx);
  const outDir = optional(ctx, 'out-dir') ?? '.';
  const hashes = await hsmHashes(ctx);
  const spec =
    argSpec ??
    (optional(ctx, 'config') !== undefined
      ? cloudKeySpecFromCore(readHsmConfig(ctx).config.targetKeySpec)
      : specFor(ctx, undefined, undefined));
  const target = awsTarget(ctx);
  try {
    const prep = await target.prepareImport(
      {
        keyName: `hsmbyok ${describeCloudKeySpec(spec)}`,
        spec,
        ...(ops ? { keyOps: ops } : {}),
        hsmOaepHashes: hashes,
        ...(keyId ? { existingKeyId: keyId } : {}),
        ...(algorithm ? { wrappingAlgorithm: algorithm } : {}),
        ...(bits ? { wrappingKeyBits: bits } : {}),
      },
      { abortSignal: ctx.signal },
    );
    let written: ReturnType<typeof writeFiles>;
    try {
      written = writeFiles(ctx, [
        { path: join(outDir, WRAPPING_KEY_FILE), data: prep.kek.publicKeyPem },
        { path: join(outDir, TOKEN_FILE), data: Buffer.from(prep.importToken ?? '', 'base64') },
        {
          path: join(outDir, PARAMETERS_FILE),
          data: `${JSON.stringify(parametersDocument(prep), null, 2)}\n`,
        },
      ]);
    } catch (error) {
      throw withTail(
        error,
        prep.created.length > 0 ? `; created ${prep.keyId} was left in place (PendingImport)` : '',
      );
    }
    printPreparation(ctx, prep);
    for (const file of written) ctx.out.line(`wrote ${file.path} (${file.bytes} bytes)`);
    ctx.out.line(
      `next: hsmbyok aws wrap --config HsmConfig.ini --parameters ${join(outDir, PARAMETERS_FILE)}, then hsmbyok aws import`,
    );
    return { result: { parameters: parametersDocument(prep), files: written } };
  } finally {
    target.close();
  }
};

export const wrap: CloudCommand = async (ctx) => {
  const paramsPath = optional(ctx, 'parameters') ?? PARAMETERS_FILE;
  const outPath = optional(ctx, 'out') ?? MATERIAL_FILE;
  const prep = readParameters(ctx, paramsPath);
  if (isPreparationExpired(prep, new Date(), 60_000)) {
    throw new CloudError(
      'IMPORT_TOKEN_EXPIRED',
      `the import parameters in ${paramsPath} expired at ${prep.expiresAt}; run hsmbyok aws prepare --key-id ${prep.keyId} again`,
      { cloud: 'AWS KMS' },
    );
  }
  const side = await openHsmSide(ctx, coreKeySpecFromCloud(prep.spec));
  let undo = (): void => {};
  try {
    const made = materialise(ctx, side);
    undo = made.undo;
    const wrapped = wrapForPreparation(side, made.key, prep);
    const [written] = writeFiles(ctx, [{ path: outPath, data: wrapped }]);
    undo = () => {};
    ctx.out.line(
      `wrapped '${made.key.label}' (${describeCloudKeySpec(prep.spec)}) with ${prep.wrap.awsAlgorithm}: ${written?.path} (${wrapped.length} bytes)`,
    );
    ctx.out.line(
      `next: hsmbyok aws import --key-id ${prep.keyId} --material ${outPath} --token ${join(dirname(paramsPath), TOKEN_FILE)}`,
    );
    return {
      result: {
        keyId: prep.keyId,
        wrappingAlgorithm: prep.wrap.awsAlgorithm,
        target: { label: made.key.label, generated: made.key.generated },
        output: written,
      },
    };
  } catch (error) {
    undo();
    throw error;
  } finally {
    side.close();
  }
};

/** Raw wrapped material, or the ciphertext of a .byok file (what the drop-in writes: RSA_AES_KEY_WRAP). */
function materialBytes(ctx: CloudContext, path: string, prep: ImportPreparation): Buffer {
  const bytes = readInput(ctx, path, 'the wrapped key material');
  if (bytes[0] !== 0x7b) return bytes;
  const blob = decodeByokBlob(bytes);
  if (prep.wrap.format !== 'rsa-aes-key-wrap') {
    throw badArgument(
      `${path} is a .byok file (CKM_RSA_AES_KEY_WRAP) but the key needs ${prep.wrap.awsAlgorithm}; use hsmbyok aws wrap`,
    );
  }
  return blob.ciphertext;
}

export const importMaterial: CloudCommand = async (ctx) => {
  const keyId = required(ctx, 'key-id', 'the KMS key (id or ARN)');
  const materialPath = required(ctx, 'material', 'the wrapped key material file');
  const tokenPath = required(ctx, 'token', 'the import token file');
  const paramsPath = optional(ctx, 'parameters') ?? join(dirname(tokenPath), PARAMETERS_FILE);
  const expiry = validTo(ctx);
  const prep = readParameters(ctx, paramsPath);
  const id = prep.keyId ?? '';
  if (id !== keyId && !id.endsWith(`/${keyId}`)) {
    throw badArgument(`--key-id ${keyId} is not the key of ${paramsPath} (${id})`);
  }
  const token = readInput(ctx, tokenPath, 'the import token');
  const material = materialBytes(ctx, materialPath, prep);
  const target = awsTarget(ctx);
  try {
    const imported = await target.importWrappedKey(
      { ...prep, importToken: token.toString('base64') },
      material,
      { ...(expiry ? { validTo: expiry } : {}), abortSignal: ctx.signal },
    );
    ctx.out.line(`imported key material into ${imported.keyId} (${awsKeySpec(imported.spec)})`);
    ctx.out.line(expiry ? `material expires at ${expiry.toISOString()}` : 'material does not expire');
    for (const note of imported.notes) ctx.out.line(`note: ${note}`);
    return { result: { imported: importedJson(imported) } };
  } finally {
    target.close();
  }
};

export const verify: CloudCommand = async (ctx) => {
  const keyId = required(ctx, 'key-id', 'the KMS key (id or ARN)');
  const argSpec = keySpecArg(ctx);
  const target = awsTarget(ctx);
  try {
    const imported = await target.getImportedKey(keyId, { abortSignal: ctx.signal });
    if (argSpec && awsKeySpec(argSpec) !== awsKeySpec(imported.spec)) {
      throw badArgument(`--key-spec ${awsKeySpec(argSpec)}: ${keyId} is ${awsKeySpec(imported.spec)}`);
    }
    const side = await openHsmSide(ctx, coreKeySpecFromCloud(imported.spec), { policies: false });
    try {
      const key = existingKey(side);
      const verification = await target.verifyImport(imported, hsmProof(side, key), {
        abortSignal: ctx.signal,
      });
      ctx.out.line(`verified ${imported.keyId} against '${key.label}' on token "${side.open.token.label}"`);
      printVerification(ctx, verification);
      return { result: { imported: importedJson(imported), verification } };
    } finally {
      side.close();
    }
  } finally {
    target.close();
  }
};

export const byok: CloudCommand = async (ctx) => {
  const argSpec = keySpecArg(ctx);
  const keyId = optional(ctx, 'key-id');
  const algorithm = choice(ctx, 'algorithm', ALGORITHMS);
  const bits = wrappingBits(ctx);
  const ops = keyOps(ctx);
  const expiry = validTo(ctx);
  const description = optional(ctx, 'description');
  const target: AwsKmsTarget = awsTarget(ctx);
  const progress = new Progress(ctx.out, 5);

  let side: HsmSide | undefined;
  let prep: ImportPreparation | undefined;
  let undoKey = (): void => {};
  let imported: ImportedKey | undefined;
  try {
    side = await progress.step(
      'open HSM',
      () => openHsmSide(ctx, argSpec ? coreKeySpecFromCloud(argSpec) : undefined),
      (s) =>
        `token "${s.open.token.label}", ${s.config.targetKeyName} ` +
        `${s.plan.kind === 'existing' ? 'found' : 'to generate'}, OAEP ${s.oaepHashes.includes('sha256') ? 'SHA-256' : 'SHA-1 only'}`,
    );
    const hsm = side;
    const spec = specFor(ctx, hsm, argSpec);
    prep = await progress.step(
      'prepare',
      () =>
        target.prepareImport(
          {
            keyName: hsm.config.targetKeyName,
            spec,
            ...(ops ? { keyOps: ops } : {}),
            hsmOaepHashes: hsm.oaepHashes,
            ...(keyId ? { existingKeyId: keyId } : {}),
            ...(algorithm ? { wrappingAlgorithm: algorithm } : {}),
            ...(bits ? { wrappingKeyBits: bits } : {}),
            ...(description ? { description } : {}),
            cleanupOnFailure: true,
          },
          { abortSignal: ctx.signal },
        ),
      (p) =>
        `${p.created.length > 0 ? 'created' : 'existing'} ${p.keyId} (${awsKeySpec(p.spec)}), ${p.wrap.awsAlgorithm}, ` +
        `RSA_${p.kek.bits} wrapping key, valid to ${p.expiresAt}`,
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
        `${w.hsmKey.label}${w.hsmKey.generated ? ' (generated)' : ''}, ${preparation.wrap.awsAlgorithm}, ${w.wrapped.length} bytes`,
    );
    imported = await progress.step(
      'import',
      () =>
        target.importWrappedKey(preparation, wrapped, {
          ...(expiry ? { validTo: expiry } : {}),
          generator: generatorOf(hsm.open.token),
          abortSignal: ctx.signal,
        }),
      (i) => `${i.keyId}, material ${expiry ? `expires ${expiry.toISOString()}` : 'does not expire'}`,
    );
    const done = imported;
    const verification = await progress.step(
      'verify',
      () => target.verifyImport(done, hsmProof(hsm, hsmKey), { abortSignal: ctx.signal }),
      (v) => v.checks.map((c) => c.id).join(', '),
    );
    ctx.out.line(`key ARN: ${done.keyId}`);
    printVerification(ctx, verification);
    for (const note of [...preparation.notes, ...done.notes]) ctx.out.line(`note: ${note}`);
    return {
      result: {
        cloud: target.cloud,
        location: target.location,
        imported: importedJson(done),
        wrappingAlgorithm: preparation.wrap.awsAlgorithm,
        created: preparation.created,
        target: { label: hsmKey.label, generated: hsmKey.generated },
        verification,
        steps: progress.records,
        notes: preparation.notes,
      },
    };
  } catch (error) {
    let tail = '';
    if (imported) {
      tail = `; ${imported.keyId} has the key material and is left in place: check it before use`;
    } else {
      undoKey();
      if (prep && prep.created.length > 0) {
        try {
          await target.cleanup(prep, { deleteCreatedKey: true });
          tail = `; the key this run created (${prep.keyId}) was scheduled for deletion in 7 days`;
        } catch {
          tail = `; the key this run created (${prep.keyId}) was left in place (PendingImport): schedule its deletion`;
        }
      }
    }
    throw withTail(error, tail);
  } finally {
    side?.close();
    target.close();
  }
};

/**
 * `--check`: the preflight of `--generate-and-wrap-target-key` without its changes. Same steps in the same
 * order up to the policy checks; no output file, no KEK import, no key generation. Each step becomes a row
 * of the verdict table; the first failing step ends the run (later steps depend on it) and the rows it
 * prevented are listed as skipped. Expected failures (ByokError) become rows here; anything else is a bug
 * and goes to the CLI's one error handler.
 */
import { ByokError, describeKeySpec, isByokError } from '@byok/core';
import type * as Hsm from '@byok/hsm-pkcs11';
import type { Command, CommandContext } from '../context.js';
import {
  checkPolicies,
  HSM_STAGES,
  type HsmStage,
  locateTarget,
  login,
  type OpenHsm,
  obtainPin,
  openHsm,
  outputFile,
  prereadPin,
  probeOutput,
  readConfig,
  readKek,
  throwIfAborted,
} from '../steps.js';

type Status = Hsm.VerdictStatus;

interface Row {
  readonly id: string;
  readonly subject: string;
  readonly status: Status;
  readonly detail: string;
  readonly fix?: string;
  readonly code?: string;
}

const SUBJECTS: Readonly<Record<string, string>> = {
  config: 'HsmConfig.ini',
  kek: 'kekBlob.pem (KEK)',
  output: 'output file',
  pin: 'PIN source',
  library: 'PKCS#11 library',
  token: 'token',
  mechanisms: 'wrap mechanisms',
  login: 'login (Crypto-Officer)',
  target: 'target key',
  policies: 'policies / key attributes',
};
const ORDER = ['config', 'kek', 'output', 'pin', ...HSM_STAGES, 'login', 'target', 'policies'] as const;

class Table {
  readonly rows: Row[] = [];
  failure: ByokError | undefined;

  add(
    id: string,
    status: Status,
    detail: string,
    extra: { subject?: string; fix?: string; code?: string } = {},
  ): void {
    this.rows.push({ id, subject: extra.subject ?? SUBJECTS[id] ?? id, status, detail, ...pick(extra) });
  }

  /** Records `error` against step `id` and marks every later step as skipped. */
  fail(id: string, error: ByokError): void {
    this.failure = error;
    this.add(id, 'fail', error.describe(), { code: error.code });
    const index = ORDER.indexOf(id as (typeof ORDER)[number]);
    if (index < 0) return;
    for (const later of ORDER.slice(index + 1))
      this.add(later, 'skip', 'not checked: an earlier check failed');
  }
}

function pick(extra: { fix?: string; code?: string }): { fix?: string; code?: string } {
  return {
    ...(extra.fix === undefined ? {} : { fix: extra.fix }),
    ...(extra.code === undefined ? {} : { code: extra.code }),
  };
}

function printTable(ctx: CommandContext, rows: readonly Row[]): void {
  const width = Math.max(5, ...rows.map((r) => r.subject.length));
  ctx.out.line();
  ctx.out.line(`  ${'STATUS'.padEnd(6)}  ${'CHECK'.padEnd(width)}  DETAIL`);
  for (const row of rows) {
    ctx.out.line(`  ${row.status.toUpperCase().padEnd(6)}  ${row.subject.padEnd(width)}  ${row.detail}`);
    if (row.fix && row.status !== 'pass')
      ctx.out.line(`  ${''.padEnd(6)}  ${''.padEnd(width)}  fix: ${row.fix}`);
  }
  ctx.out.line();
}

/** Runs one step; a ByokError becomes the failing row and stops the check. */
async function step<T>(table: Table, id: string, run: () => Promise<T> | T): Promise<T | undefined> {
  try {
    return await run();
  } catch (error) {
    if (!isByokError(error)) throw error;
    table.fail(id, error);
    return undefined;
  }
}

export const check: Command = async (ctx) => {
  const table = new Table();
  const cleanup: (() => void)[] = [];
  try {
    await runChecks(ctx, table, cleanup);
  } finally {
    for (let undo = cleanup.pop(); undo; undo = cleanup.pop()) undo();
  }
  printTable(ctx, table.rows);
  const failing = table.rows.filter((r) => r.status === 'fail');
  let failure = table.failure;
  if (!failure && failing.length > 0) {
    failure = new ByokError(
      'CKR_POLICY_VIOLATION',
      `check failed: ${failing.map((r) => r.subject).join(', ')}`,
    );
  }
  if (failure) ctx.out.error(failure.describe());
  return { result: { checks: table.rows }, ...(failure ? { failure } : {}) };
};

async function runChecks(ctx: CommandContext, table: Table, cleanup: (() => void)[]): Promise<void> {
  await throwIfAborted(ctx);
  const configInput = await step(table, 'config', () => readConfig(ctx));
  if (!configInput) return;
  const { config } = configInput.parsed;
  table.add(
    'config',
    configInput.parsed.warnings.length > 0 ? 'warn' : 'pass',
    `${configInput.file.display}: ${describeKeySpec(config.targetKeySpec)} ${config.targetKeyName}, ` +
      `${config.wrapMethod.kind} wrap, OAEP ${config.wrapMethod.oaepHash}` +
      (configInput.parsed.warnings.length > 0
        ? `; ${configInput.parsed.warnings.length} warning(s) above`
        : ''),
  );

  const kekInput = await step(table, 'kek', () => readKek(ctx));
  if (!kekInput) return;
  table.add(
    'kek',
    'pass',
    `RSA-${kekInput.kek.modulusBits}, SHA-256 fingerprint ${kekInput.kek.fingerprint}`,
  );

  const out = outputFile(ctx);
  const probe = await step(table, 'output', () => probeOutput(out));
  if (!probe) return;
  table.add(
    'output',
    probe.exists ? 'warn' : 'pass',
    probe.exists ? `${out.display} exists; a run keeps it as a .bak copy` : `${out.display} can be written`,
  );

  const pinSource = ctx.options.pin;
  let preread: string | undefined;
  const pinOk = await step(table, 'pin', async () => {
    preread = await prereadPin(ctx);
    return true;
  });
  if (!pinOk) return;
  table.add('pin', 'pass', pinSource.kind === 'prompt' ? 'terminal prompt' : `--pin-${pinSource.kind}`);

  await throwIfAborted(ctx);
  let stageIndex = 0;
  const open: OpenHsm | undefined = await step(table, 'library', async () => {
    try {
      return await openHsm(ctx, config, (stage: HsmStage, detail: string) => {
        stageIndex += 1;
        table.add(stage, 'pass', detail);
      });
    } catch (error) {
      if (!isByokError(error)) throw error;
      table.fail(HSM_STAGES[stageIndex] ?? 'library', error);
      return undefined;
    }
  });
  if (!open) return;
  cleanup.push(() => open.module.close());

  const session = await step(table, 'login', async () => {
    const pin = await obtainPin(ctx, preread);
    await throwIfAborted(ctx);
    const opened = open.module.openSession(open.token.slotId);
    cleanup.push(() => opened.close());
    login(ctx, opened, open.token, pin);
    return opened;
  });
  if (!session) return;
  table.add('login', 'pass', `logged in to "${open.token.label}"`);

  const target = await step(table, 'target', () => locateTarget(ctx, session, config));
  if (!target) return;
  table.add(
    'target',
    'pass',
    target.kind === 'existing'
      ? `${target.key.label}: ${describeKeySpec(target.key.spec)}, CKA_EXTRACTABLE=${target.key.extractable}`
      : `${target.label}: not on the token; a run generates it (CKF_CREATE_IF_NOT_FOUND)`,
  );

  const verdicts = await step(table, 'policies', () => checkPolicies(ctx, open, session, config, target));
  if (!verdicts) return;
  for (const v of verdicts) {
    table.add(v.id, v.status, v.detail, {
      subject: v.subject,
      ...(v.fix === undefined ? {} : { fix: v.fix }),
    });
  }
}

/**
 * Preflight: can this key be wrapped under our (untrusted, imported) KEK on this module? Run before any key
 * is generated or wrapped, so a run that would fail half-way fails first with the fix in hand. On Luna the
 * partition policies are read; elsewhere the same verdicts come from mechanism info and key attributes.
 */
import { ByokError, describeKeySpec, type KeySpec, type TargetKeyFlag } from '@byok/core';
import { CKA, CKF_MECH, mechanismName } from './constants.js';
import { LUNA_POLICY, LUNA_POLICY_NAMES } from './luna.js';
import type { Pkcs11Module } from './module.js';
import type { HsmSession } from './session.js';
import type { PolicyVerdict, TargetKey, TokenInfo, WrapPlan } from './types.js';
import { planMechanisms } from './wrap.js';

export interface PolicyContext {
  readonly module: Pkcs11Module;
  readonly token: TokenInfo;
  /** When given, an existing key's attributes are read again from the token rather than trusted. */
  readonly session?: HsmSession;
  readonly spec: KeySpec;
  readonly flags: ReadonlySet<TargetKeyFlag>;
  /** The key found on the token; absent when one will be generated. */
  readonly existing?: TargetKey;
  readonly plan?: WrapPlan;
}

/** Purposes a Luna counts when it decides whether a key is "multipurpose" (policy 10). */
const PURPOSES: readonly (readonly TargetKeyFlag[])[] = [
  ['CKF_ENCRYPT', 'CKF_DECRYPT'],
  ['CKF_SIGN', 'CKF_VERIFY', 'CKF_SIGN_RECOVER', 'CKF_VERIFY_RECOVER'],
  ['CKF_WRAP', 'CKF_UNWRAP'],
  ['CKF_DERIVE'],
];

function purposeCount(flags: ReadonlySet<TargetKeyFlag>): number {
  return PURPOSES.filter((group) => group.some((flag) => flags.has(flag))).length;
}

function policySubject(id: number): string {
  return `partition policy ${id} "${LUNA_POLICY_NAMES.get(id) ?? 'unknown'}"`;
}

function changePolicy(id: number, value: number): string {
  return `lunacm: partition changepolicy -policy ${id} -value ${value}`;
}

function onOff(value: number | undefined): string {
  return value === undefined ? 'unreadable' : value === 0 ? 'off' : 'on';
}

function lunaVerdicts(ctx: PolicyContext): PolicyVerdict[] {
  const luna = ctx.module.luna;
  if (!luna) return [];
  const privateKey = ctx.spec.kind === 'rsa' || ctx.spec.kind === 'ec';
  const wrapping = privateKey ? LUNA_POLICY.PRIVATE_KEY_WRAPPING : LUNA_POLICY.SECRET_KEY_WRAPPING;
  const ids = [
    LUNA_POLICY.PRIVATE_KEY_CLONING,
    wrapping,
    LUNA_POLICY.MULTIPURPOSE_KEYS,
    LUNA_POLICY.CBC_PAD_WRAP_ANY_SIZE,
  ];
  const policies = luna.partitionPolicies(ctx.token.slotId, ids);
  const value = (id: number): number | undefined => policies.get(id);
  const verdicts: PolicyVerdict[] = [];
  const what = describeKeySpec(ctx.spec);

  const wrapOn = value(wrapping) === 1;
  verdicts.push({
    id: `luna.policy.${wrapping}`,
    subject: policySubject(wrapping),
    status: wrapOn ? 'pass' : 'fail',
    detail: wrapOn
      ? 'on'
      : `${onOff(value(wrapping))}: the partition refuses to wrap ${privateKey ? 'private' : 'secret'} keys (${what})`,
    ...(wrapOn ? {} : { fix: changePolicy(wrapping, 1) }),
  });

  if (privateKey) {
    const cloning = value(LUNA_POLICY.PRIVATE_KEY_CLONING);
    if (cloning !== 0 && wrapOn) {
      // A Luna is in Key Export mode (1 on) or Cloning mode (0 on), never both: the readings contradict.
      verdicts.push({
        id: `luna.policy.${LUNA_POLICY.PRIVATE_KEY_CLONING}`,
        subject: policySubject(LUNA_POLICY.PRIVATE_KEY_CLONING),
        status: 'fail',
        detail: 'on while policy 1 is on too: a partition is in Key Export mode or Cloning mode, never both',
        fix: 'lunacm: partition showpolicies (and check the firmware) before any wrap',
      });
    } else {
      verdicts.push({
        id: `luna.policy.${LUNA_POLICY.PRIVATE_KEY_CLONING}`,
        subject: policySubject(LUNA_POLICY.PRIVATE_KEY_CLONING),
        status: cloning === 0 ? 'pass' : 'fail',
        detail:
          cloning === 0
            ? 'off (Key Export mode)'
            : `${onOff(cloning)}: the partition is in Cloning mode, where private keys cannot be wrapped`,
        ...(cloning === 0
          ? {}
          : {
              fix:
                `${changePolicy(0, 0)} then ${changePolicy(1, 1)} ` +
                '(switching Cloning to Key Export mode is destructive: back up the partition first)',
            }),
      });
    }
  }

  const purposes = purposeCount(ctx.flags);
  const multi = value(LUNA_POLICY.MULTIPURPOSE_KEYS);
  if (purposes > 1) {
    verdicts.push({
      id: `luna.policy.${LUNA_POLICY.MULTIPURPOSE_KEYS}`,
      subject: policySubject(LUNA_POLICY.MULTIPURPOSE_KEYS),
      status: multi === 1 ? 'pass' : 'fail',
      detail:
        multi === 1
          ? `on (targetKeyFlags ask for ${purposes} purposes)`
          : `${onOff(multi)}, but targetKeyFlags ask for ${purposes} purposes (e.g. sign and decrypt)`,
      ...(multi === 1 ? {} : { fix: `${changePolicy(10, 1)}, or keep one purpose in targetKeyFlags` }),
    });
  } else {
    verdicts.push({
      id: `luna.policy.${LUNA_POLICY.MULTIPURPOSE_KEYS}`,
      subject: policySubject(LUNA_POLICY.MULTIPURPOSE_KEYS),
      status: 'skip',
      detail: `${onOff(multi)} (not needed: targetKeyFlags ask for ${purposes} purpose${purposes === 1 ? '' : 's'})`,
    });
  }

  const cbcPad = value(LUNA_POLICY.CBC_PAD_WRAP_ANY_SIZE);
  verdicts.push({
    id: `luna.policy.${LUNA_POLICY.CBC_PAD_WRAP_ANY_SIZE}`,
    subject: policySubject(LUNA_POLICY.CBC_PAD_WRAP_ANY_SIZE),
    status: cbcPad === 1 ? 'pass' : 'warn',
    detail:
      cbcPad === 1
        ? 'on'
        : `${onOff(cbcPad)}: not used by RFC 5649 wraps, but some firmware applies it to every AES wrap of keys ` +
          'whose size is not a multiple of 16',
    ...(cbcPad === 1 ? {} : { fix: changePolicy(34, 1) }),
  });
  return verdicts;
}

function mechanismVerdicts(ctx: PolicyContext): PolicyVerdict[] {
  if (!ctx.plan) {
    return [
      {
        id: 'mechanism.wrap',
        subject: 'wrap mechanisms',
        status: 'skip',
        detail: 'no wrap plan given',
      },
    ];
  }
  return planMechanisms(ctx.plan).map((mechanism): PolicyVerdict => {
    const info = ctx.module.mechanismInfo(ctx.token.slotId, mechanism);
    const canWrap = info !== undefined && (info.flags & CKF_MECH.CKF_WRAP) !== 0;
    const name = mechanismName(mechanism);
    return {
      id: `mechanism.wrap.0x${mechanism.toString(16)}`,
      subject: `${name} with CKF_WRAP`,
      status: canWrap ? 'pass' : 'fail',
      detail: canWrap ? 'offered' : info ? 'offered without CKF_WRAP' : 'not offered by this token',
      ...(canWrap ? {} : { fix: 'choose another wrappingCiphers entry, or update the HSM firmware' }),
    };
  });
}

function keyVerdicts(ctx: PolicyContext): PolicyVerdict[] {
  const existing = ctx.existing;
  if (!existing) {
    const extractable = ctx.flags.has('CKF_EXTRACTABLE');
    return [
      {
        id: 'key.extractable',
        subject: 'CKA_EXTRACTABLE of the key to generate',
        status: extractable ? 'pass' : 'fail',
        detail: extractable
          ? 'will be generated with CKA_EXTRACTABLE=true'
          : 'CKF_EXTRACTABLE is not in targetKeyFlags: the key could never be exported',
        ...(extractable ? {} : { fix: 'add CKF_EXTRACTABLE to targetKeyFlags' }),
      },
      {
        id: 'key.wrap-with-trusted',
        subject: 'CKA_WRAP_WITH_TRUSTED of the key to generate',
        status: 'pass',
        detail: 'will be generated with CKA_WRAP_WITH_TRUSTED=false',
      },
    ];
  }
  let extractable = existing.extractable;
  let wrapWithTrusted = existing.wrapWithTrusted;
  if (ctx.session) {
    const [e, w] = ctx.session.readAttributes(existing.handle, [
      CKA.CKA_EXTRACTABLE,
      CKA.CKA_WRAP_WITH_TRUSTED,
    ]);
    extractable = e !== undefined && e[0] !== 0;
    wrapWithTrusted = w !== undefined && w[0] !== 0;
  }
  return [
    {
      id: 'key.extractable',
      subject: `CKA_EXTRACTABLE of '${existing.label}'`,
      status: extractable ? 'pass' : 'fail',
      detail: extractable
        ? 'CKA_EXTRACTABLE=true'
        : 'CKA_EXTRACTABLE=false: the key was generated without CKF_EXTRACTABLE and can never be exported',
      ...(extractable ? {} : { fix: 'generate a new key under another targetKeyName with CKF_EXTRACTABLE' }),
    },
    {
      id: 'key.wrap-with-trusted',
      subject: `CKA_WRAP_WITH_TRUSTED of '${existing.label}'`,
      status: wrapWithTrusted ? 'fail' : 'pass',
      detail: wrapWithTrusted
        ? 'CKA_WRAP_WITH_TRUSTED=true: only a CKA_TRUSTED key may wrap it, and an imported KEK is not trusted'
        : 'CKA_WRAP_WITH_TRUSTED=false',
      ...(wrapWithTrusted ? { fix: 'generate a new key under another targetKeyName' } : {}),
    },
  ];
}

/** Every check, in the order a custodian reads them: partition policies, mechanisms, the key itself. */
export function checkWrapPolicies(ctx: PolicyContext): PolicyVerdict[] {
  return [...lunaVerdicts(ctx), ...mechanismVerdicts(ctx), ...keyVerdicts(ctx)];
}

/** Throws for the first failed verdict: CKR_POLICY_VIOLATION (partition policy), CKR_KEY_UNEXTRACTABLE, ... */
export function assertPolicies(verdicts: readonly PolicyVerdict[]): void {
  const failure = verdicts.find((v) => v.status === 'fail');
  if (!failure) return;
  const code = failure.id.startsWith('luna.policy.')
    ? 'CKR_POLICY_VIOLATION'
    : failure.id.startsWith('key.')
      ? 'CKR_KEY_UNEXTRACTABLE'
      : 'CKR_MECHANISM_INVALID';
  const fix = failure.fix ? `; fix: ${failure.fix}` : '';
  throw new ByokError(code, `${failure.subject}: ${failure.detail}${fix}`);
}

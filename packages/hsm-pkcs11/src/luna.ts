/**
 * Thales Luna's partition-policy extensions. pkcs11js reaches only the standard function list, so the CA_*
 * functions are bound with koffi from the same library file. Present only when the library exports
 * CA_GetContainerPolicySetting (a real Luna, or the test shim that imitates one).
 */
import { ByokError, ckrName, hex8 } from '@byok/core';
import type { IKoffiLib } from 'koffi';

/** The partition policies we read (Luna "partition showpolicies" ids and names). */
export const LUNA_POLICY = {
  PRIVATE_KEY_CLONING: 0,
  PRIVATE_KEY_WRAPPING: 1,
  PRIVATE_KEY_UNWRAPPING: 2,
  SECRET_KEY_CLONING: 4,
  SECRET_KEY_WRAPPING: 5,
  SECRET_KEY_UNWRAPPING: 6,
  MULTIPURPOSE_KEYS: 10,
  CHANGE_KEY_ATTRIBUTES: 11,
  CBC_PAD_WRAP_ANY_SIZE: 34,
} as const;

export const LUNA_POLICY_NAMES: ReadonlyMap<number, string> = new Map([
  [0, 'Allow private key cloning'],
  [1, 'Allow private key wrapping'],
  [2, 'Allow private key unwrapping'],
  [4, 'Allow secret key cloning'],
  [5, 'Allow secret key wrapping'],
  [6, 'Allow secret key unwrapping'],
  [10, 'Allow multipurpose keys'],
  [11, 'Allow changing key attributes'],
  [22, 'Allow activation'],
  [23, 'Allow auto-activation'],
  [33, 'Allow RSA PKCS mechanism'],
  [34, 'Allow CBC-PAD (un)wrap keys of any size'],
]);

/** The two CA_* functions as koffi binds them: CK_RV result, CK_ULONG out-parameters as one-element arrays. */
type GetUserContainerNumber = (slotId: number, container: [number]) => number;
type GetContainerPolicySetting = (
  slotId: number,
  container: number,
  policyId: number,
  value: [number],
) => number;

function bind<T>(lib: IKoffiLib, declaration: string): T | undefined {
  try {
    // koffi types a bound function as `(...args: any[]) => any`: narrowed here to the C prototype above.
    return lib.func(declaration) as unknown as T;
  } catch {
    return undefined;
  }
}

/** The export that marks a library as having the extensions. */
export const LUNA_PROBE_SYMBOL = 'CA_GetContainerPolicySetting';

export class LunaExtensions {
  private constructor(
    private readonly getUserContainerNumber: GetUserContainerNumber,
    private readonly getContainerPolicySetting: GetContainerPolicySetting,
  ) {}

  /** Binds the extensions when the library has them; undefined for any other module. */
  static bind(lib: IKoffiLib): LunaExtensions | undefined {
    const getPolicy = bind<GetContainerPolicySetting>(
      lib,
      `unsigned long ${LUNA_PROBE_SYMBOL}(unsigned long slot, unsigned long container, ` +
        'unsigned long policy, _Out_ unsigned long *value)',
    );
    if (!getPolicy) return undefined;
    const getContainer = bind<GetUserContainerNumber>(
      lib,
      'unsigned long CA_GetUserContainerNumber(unsigned long slot, _Out_ unsigned long *container)',
    );
    if (!getContainer) return undefined;
    return new LunaExtensions(getContainer, getPolicy);
  }

  /** The partition (container) behind a slot. */
  containerNumber(slotId: number): number {
    const out: [number] = [0];
    check(this.getUserContainerNumber(slotId, out), `CA_GetUserContainerNumber(slot ${slotId})`);
    return Number(out[0]);
  }

  /** One partition policy's current value (0 = off, 1 = on for the boolean policies). */
  policySetting(slotId: number, container: number, policyId: number): number {
    const out: [number] = [0];
    check(
      this.getContainerPolicySetting(slotId, container, policyId, out),
      `CA_GetContainerPolicySetting(policy ${policyId})`,
    );
    return Number(out[0]);
  }

  /** Several policies of the slot's partition at once. */
  partitionPolicies(slotId: number, policyIds: readonly number[]): Map<number, number> {
    const container = this.containerNumber(slotId);
    return new Map(policyIds.map((id) => [id, this.policySetting(slotId, container, id)]));
  }
}

function check(rv: number, context: string): void {
  const code = Number(rv);
  if (code === 0) return;
  throw new ByokError(
    ckrName(code),
    `${context} failed: cannot read the partition policies (${hex8(code)})`,
    {
      ckr: code,
    },
  );
}

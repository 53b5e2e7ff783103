/**
 * Key Vault's error body: `{"error": {"code", "message", "innererror"?: {"code"}}}` (KeyVaultError in the REST
 * spec; the SDK surfaces it as RestError with `code` and `statusCode`). Codes and messages follow what the
 * service returns for the same condition, so client code that branches on them is exercised for real.
 */

export class KeyVaultError extends Error {
  override readonly name = 'KeyVaultError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly innerCode?: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }

  toBody(): { error: { code: string; message: string; innererror?: { code: string } } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.innerCode === undefined ? {} : { innererror: { code: this.innerCode } }),
      },
    };
  }
}

export function badParameter(message: string): KeyVaultError {
  return new KeyVaultError(400, 'BadParameter', message);
}

export function keyNotFound(name: string, version?: string): KeyVaultError {
  const what = version ? `${name}/${version}` : name;
  return new KeyVaultError(
    404,
    'KeyNotFound',
    `A key with (name/id) ${what} was not found in this key vault.`,
  );
}

export function deletedKeyNotFound(name: string): KeyVaultError {
  return new KeyVaultError(404, 'KeyNotFound', `Deleted Key not found: ${name}`);
}

export function operationForbidden(op: string): KeyVaultError {
  return new KeyVaultError(
    403,
    'Forbidden',
    `Operation ${op} is not permitted on this key.`,
    'KeyOperationForbidden',
  );
}

export function keyDisabled(op: string): KeyVaultError {
  return new KeyVaultError(
    403,
    'Forbidden',
    `Operation ${op} is not allowed on a disabled key.`,
    'KeyDisabled',
  );
}

export function deletedButRecoverable(name: string): KeyVaultError {
  return new KeyVaultError(
    409,
    'Conflict',
    `Key ${name} is currently in a deleted but recoverable state, and its name cannot be reused; ` +
      'in this state, the key can only be recovered or purged.',
    'ObjectIsDeletedButRecoverable',
  );
}

export function keyOutsideValidity(op: string, state: string, innerCode: string): KeyVaultError {
  return new KeyVaultError(
    403,
    'Forbidden',
    `Operation ${op} is not allowed on a key that is ${state}.`,
    innerCode,
  );
}

/**
 * KMS errors as the JSON 1.1 protocol carries them: HTTP status + `{"__type": "<Name>Exception", "message"}`.
 * The AWS SDK maps `__type` to its typed exception classes (NotFoundException, ExpiredImportTokenException...).
 */
export class KmsError extends Error {
  override readonly name = 'KmsError';

  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }

  toBody(): { __type: string; message: string } {
    return { __type: this.type, message: this.message };
  }
}

export const validation = (message: string) => new KmsError('ValidationException', message);
export const notFound = (keyId: string) => new KmsError('NotFoundException', `Key '${keyId}' does not exist`);
export const invalidState = (message: string) => new KmsError('KMSInvalidStateException', message);
export const unsupported = (message: string) => new KmsError('UnsupportedOperationException', message);
export const invalidKeyUsage = (message: string) => new KmsError('InvalidKeyUsageException', message);
export const invalidCiphertext = (message: string) => new KmsError('InvalidCiphertextException', message);
export const incorrectKeyMaterial = (message: string) =>
  new KmsError('IncorrectKeyMaterialException', message);

/**
 * AES-256-GCM payload codec: every payload the worker or a client sends to Temporal (workflow inputs,
 * activity results, update arguments, query answers) is encrypted before it leaves the process, so the
 * server and its database hold ciphertext only. The first key encrypts; every key decrypts (rotation).
 * The key id is authenticated (GCM additional data), so a payload cannot be re-labelled to another key.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ByokError } from '@byok/core';
import type { Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';

// A CommonJS package whose `temporal` export Node's ESM loader cannot detect: take it from the default export.
const { temporal } = proto;

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface CodecKey {
  readonly id: string;
  /** 32 bytes. */
  readonly key: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly keys: ReadonlyMap<string, Uint8Array>;
  private readonly current: CodecKey;

  constructor(keys: readonly CodecKey[]) {
    const [first] = keys;
    if (!first) throw new ByokError('CODEC_INVALID', 'the payload codec needs at least one key');
    for (const k of keys) {
      if (k.key.length !== 32)
        throw new ByokError('CODEC_INVALID', `codec key ${k.id} must be 32 bytes (AES-256)`);
    }
    this.current = first;
    this.keys = new Map(keys.map((k) => [k.id, k.key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
      cipher.setAAD(encoder.encode(this.current.id));
      const body = Buffer.concat([cipher.update(plain), cipher.final()]);
      return {
        metadata: {
          encoding: encoder.encode(ENCRYPTED_ENCODING),
          [KEY_ID_METADATA]: encoder.encode(this.current.id),
        },
        data: Buffer.concat([iv, body, cipher.getAuthTag()]),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.encoding;
      if (!encoding || decoder.decode(encoding) !== ENCRYPTED_ENCODING) return payload;
      const idBytes = payload.metadata?.[KEY_ID_METADATA];
      const id = idBytes ? decoder.decode(idBytes) : '';
      const key = this.keys.get(id);
      if (!key)
        throw new ByokError(
          'CODEC_UNKNOWN_KEY',
          `payload encrypted with codec key '${id}', which this process does not have`,
        );
      const data = payload.data ?? new Uint8Array();
      if (data.length < IV_BYTES + TAG_BYTES)
        throw new ByokError('CODEC_INVALID', 'encrypted payload is truncated');
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAAD(encoder.encode(id));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      let plain: Buffer;
      try {
        plain = Buffer.concat([
          decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
          decipher.final(),
        ]);
      } catch {
        throw new ByokError(
          'CODEC_TAMPERED',
          `encrypted payload (key '${id}') fails authentication: altered or wrong key`,
        );
      }
      return temporal.api.common.v1.Payload.decode(plain) as Payload;
    });
  }
}

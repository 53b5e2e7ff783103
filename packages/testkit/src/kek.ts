import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A stand-in for the cloud's key-exchange key: the private half lets a test unwrap what the HSM produced. */
export interface KekPair {
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
  /** SPKI PEM ("BEGIN PUBLIC KEY"), the format of kekBlob.pem. */
  readonly publicPem: string;
}

export function generateKekPair(bits = 2048): KekPair {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicExponent: 0x10001,
  });
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { publicKey, privateKey, publicPem };
}

/** Writes the public half as `<dir>/<name>` (kekBlob.pem by default) and returns its path. */
export async function writeKekPem(dir: string, pair: KekPair, name = 'kekBlob.pem'): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, pair.publicPem);
  return path;
}

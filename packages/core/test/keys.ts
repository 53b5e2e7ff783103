/** Test keys, generated once per test file: RSA-4096 generation costs seconds on a shared 2-core box. */
import { generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

const generate = promisify(generateKeyPair);
const rsaCache = new Map<number, Promise<{ publicKey: KeyObject; privateKey: KeyObject }>>();

export function rsaKeyPair(bits: number): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  let pair = rsaCache.get(bits);
  if (!pair) {
    pair = generate('rsa', { modulusLength: bits, publicExponent: 65537 });
    rsaCache.set(bits, pair);
  }
  return pair;
}

export function ecKeyPair(namedCurve: string): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  return generate('ec', { namedCurve });
}

/** Runs fn and returns the error it throws; fails the test when it does not throw. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw, got a return');
}

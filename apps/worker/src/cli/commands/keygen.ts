/** An approver's signing key pair: the private key file (0600, never shared) and the public key for definitions. */
import { writeFileSync } from 'node:fs';
import { generateApproverKeyPair } from '@byok/core/ceremony';
import { type Args, option, required, UsageError } from '../args.js';
import type { CommandResult } from '../main.js';

export async function keygen(args: Args): Promise<CommandResult> {
  const out = required(args, 'out');
  const alg = option(args, 'alg') ?? 'ed25519';
  if (alg !== 'ed25519' && alg !== 'p256') throw new UsageError('--alg is ed25519 or p256');
  const pair = generateApproverKeyPair(alg);
  // O_EXCL: an approver's key is never overwritten.
  writeFileSync(`${out}.key`, pair.privateKeyPem, { flag: 'wx', mode: 0o600 });
  writeFileSync(`${out}.pub`, pair.publicKeyPem, { flag: 'wx', mode: 0o644 });
  return {
    data: { privateKeyFile: `${out}.key`, publicKeyFile: `${out}.pub`, alg, publicKeyPem: pair.publicKeyPem },
    text: `wrote ${out}.key (private, 0600) and ${out}.pub (${alg})`,
  };
}

/**
 * Azure credentials. Production uses @azure/identity's DefaultAzureCredential, loaded on first use so that
 * AWS-only runs never load MSAL. Emulators use StaticTokenCredential: a real TokenCredential that hands out a
 * configured token (the emulator checks it like the service checks a JWT's audience).
 */
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import type { AzureCredentialSource } from './config.js';

export class StaticTokenCredential implements TokenCredential {
  readonly #token: string;
  readonly #lifetimeMs: number;

  constructor(token: string, opts: { lifetimeMs?: number } = {}) {
    if (token.length === 0) throw new TypeError('StaticTokenCredential needs a non-empty token');
    this.#token = token;
    this.#lifetimeMs = opts.lifetimeMs ?? 3_600_000;
  }

  async getToken(_scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
    return { token: this.#token, expiresOnTimestamp: Date.now() + this.#lifetimeMs, tokenType: 'Bearer' };
  }

  /** Never print the token. */
  toJSON(): string {
    return 'StaticTokenCredential(***)';
  }
}

class LazyDefaultAzureCredential implements TokenCredential {
  #inner: Promise<TokenCredential> | undefined;

  constructor(private readonly tenantId: string | undefined) {}

  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    this.#inner ??= import('@azure/identity').then(
      ({ DefaultAzureCredential }) =>
        new DefaultAzureCredential(this.tenantId ? { tenantId: this.tenantId } : undefined),
    );
    return (await this.#inner).getToken(scopes, options);
  }
}

export function azureCredential(source: AzureCredentialSource): TokenCredential {
  switch (source.kind) {
    case 'default':
      return new LazyDefaultAzureCredential(source.tenantId);
    case 'static-token':
      return new StaticTokenCredential(source.token);
    case 'credential':
      return source.credential;
  }
}

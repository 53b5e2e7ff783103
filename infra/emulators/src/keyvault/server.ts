/**
 * Azure Key Vault / Managed HSM emulator over HTTPS (node:https). Speaks the Keys REST API as the official
 * `@azure/keyvault-keys` SDK expects it: the bearer challenge, the JSON shapes, the error bodies.
 *
 * Authentication: like the service, a request without `Authorization: Bearer` gets 401 with
 * `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>", resource="<resource>"`;
 * the SDK then asks its credential for a token and retries. Tokens are opaque here: a request is accepted
 * when its bearer token is one of `tokens` (default: EMULATOR_TOKEN, what `emulatorCredential()` returns).
 *
 * Admin endpoints under `/_emulator/` (no auth; loopback only) drive fault injection from other processes.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { handleFaultAdmin } from '../shared/fault-admin.js';
import { type Fault, FaultQueue, type Faults } from '../shared/faults.js';
import { listen, readBody, sendJson, shutdown } from '../shared/http.js';
import { ensureTlsMaterial } from '../shared/tls.js';
import { BodyError, parseJson } from '../shared/validate.js';
import { badParameter, KeyVaultError } from './errors.js';
import type { VaultMode } from './model.js';
import { Vault } from './vault.js';
import { parseCipher, parseCreate, parseImport, parseSign, parseUpdate, parseVerify } from './wire.js';

/** The bearer token the emulator accepts by default. */
export const EMULATOR_TOKEN = 'byok-emulator-token';
/** Tenant named in the challenge; the SDK passes it to the credential as `tenantId`. */
export const EMULATOR_TENANT = '72f988bf-0000-4000-8000-00000000e0e0';

export interface KeyVaultEmulatorOptions {
  readonly stateDir: string;
  /** 0 or absent: a free port. */
  readonly port?: number;
  readonly mode?: VaultMode;
  /** Bearer tokens accepted; default [EMULATOR_TOKEN]. */
  readonly tokens?: readonly string[];
  readonly tenantId?: string;
  readonly now?: () => Date;
}

export interface KeyVaultEmulator {
  /** `https://127.0.0.1:<port>`: the vault URL to give `KeyClient`. */
  readonly url: string;
  readonly port: number;
  readonly mode: VaultMode;
  readonly caCertPem: string;
  readonly caCertPath: string;
  /** The `resource` of the challenge (`https://vault.azure.net` or `https://managedhsm.azure.net`). */
  readonly resource: string;
  readonly faults: Faults;
  close(): Promise<void>;
}

/** A TokenCredential (structurally, so this package needs no @azure/core-auth) that the emulator accepts. */
export function emulatorCredential(token: string = EMULATOR_TOKEN): {
  getToken(scopes: string | string[]): Promise<{ token: string; expiresOnTimestamp: number }>;
} {
  return {
    async getToken() {
      return { token, expiresOnTimestamp: Date.now() + 3600_000 };
    },
  };
}

const NAME = /^[0-9A-Za-z-]{1,127}$/;
const API_VERSION = /^(7\.\d+(-preview(\.\d+)?)?|\d{4}-\d{2}-\d{2}(-preview(\.\d+)?)?)$/;
const KEY_OPERATIONS = new Set(['sign', 'verify', 'encrypt', 'decrypt', 'wrapkey', 'unwrapkey']);

export async function startKeyVaultEmulator(opts: KeyVaultEmulatorOptions): Promise<KeyVaultEmulator> {
  const mode = opts.mode ?? 'vault';
  const tls = ensureTlsMaterial(join(opts.stateDir, 'tls'));
  const vault = new Vault(opts.stateDir, mode, opts.now ?? (() => new Date()));
  const faults = new FaultQueue();
  const tokens = new Set(opts.tokens ?? [EMULATOR_TOKEN]);
  const resource = mode === 'vault' ? 'https://vault.azure.net' : 'https://managedhsm.azure.net';
  const challenge = `Bearer authorization="https://login.microsoftonline.com/${opts.tenantId ?? EMULATOR_TENANT}", resource="${resource}"`;

  const server = createServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, new KeyVaultError(500, 'InternalServerError', describe(err)));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    if (url.pathname.startsWith('/_emulator/')) return admin(req, res, url.pathname);

    const fault = faults.take();
    if (fault) return injectFault(res, fault);

    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
    if (!token || !tokens.has(token)) {
      // The SDK sends the first request of a client without its body and expects this challenge.
      req.resume();
      const message = token
        ? 'AKV10032: Invalid issuer. The bearer token was not issued for this emulator.'
        : 'AKV10000: Request is missing a Bearer or PoP token.';
      return sendError(
        res,
        new KeyVaultError(401, 'Unauthorized', message, undefined, { 'www-authenticate': challenge }),
      );
    }

    try {
      const apiVersion = url.searchParams.get('api-version');
      if (!apiVersion) throw badParameter('The request has no api-version query parameter.');
      if (!API_VERSION.test(apiVersion))
        throw badParameter(`The specified version (${apiVersion}) is not recognized.`);
      const base = baseUrl(req);
      const body = parseJson(await readBody(req));
      const result = route(req.method ?? 'GET', url.pathname.split('/').slice(1), body, base);
      if (result === undefined) {
        res.writeHead(204, { 'x-ms-request-id': randomUUID() });
        res.end();
      } else {
        sendJson(res, 200, result, { 'x-ms-request-id': randomUUID() });
      }
    } catch (err) {
      if (err instanceof KeyVaultError) return sendError(res, err);
      if (err instanceof BodyError) return sendError(res, badParameter(err.message));
      throw err;
    }
  }

  function baseUrl(req: IncomingMessage): string {
    // Key ids name the host the client used, as long as it is one of ours (127.0.0.1 or localhost).
    const host = req.headers.host ?? '';
    const ok = /^(127\.0\.0\.1|localhost)(:\d+)?$/.test(host);
    return ok ? `https://${host}` : emulator.url;
  }

  function checkName(name: string | undefined): string {
    if (!name || !NAME.test(name))
      throw badParameter(`The request URI contains an invalid name: ${name ?? ''}`);
    return name;
  }

  function route(method: string, seg: string[], body: unknown, base: string): unknown {
    const [collection, rawName, second, third, ...rest] = seg;
    if (rest.length > 0) throw notFound();
    if (collection === 'keys') {
      if (rawName === undefined || rawName === '') {
        if (method === 'GET') return vault.listKeys(base);
        throw methodNotAllowed(method);
      }
      const name = checkName(rawName);
      if (second === undefined) {
        if (method === 'PUT') return vault.bundle(base, vault.import(name, parseImport(body)));
        if (method === 'DELETE') return vault.delete(base, name);
        if (method === 'GET') return vault.bundle(base, vault.get(name));
        throw methodNotAllowed(method);
      }
      if (third === undefined) {
        if (second === 'create' && method === 'POST')
          return vault.bundle(base, vault.create(name, parseCreate(body)));
        if (second === 'versions' && method === 'GET') return vault.listVersions(base, name);
        const version = second === '' ? undefined : second;
        if (method === 'GET') return vault.bundle(base, vault.get(name, version));
        if (method === 'PATCH') return vault.bundle(base, vault.update(name, version, parseUpdate(body)));
        throw methodNotAllowed(method);
      }
      const op = third.toLowerCase();
      if (!KEY_OPERATIONS.has(op)) throw notFound();
      if (method !== 'POST') throw methodNotAllowed(method);
      const version = second === '' ? undefined : second;
      const kid = `${base}/keys/${name}/${vault.get(name, version).version}`;
      return keyOperation(op, name, version, body, kid);
    }
    if (collection === 'deletedkeys') {
      if (rawName === undefined || rawName === '') {
        if (method === 'GET') return vault.listDeleted(base);
        throw methodNotAllowed(method);
      }
      const name = checkName(rawName);
      if (second === undefined) {
        if (method === 'GET') return vault.deletedBundle(base, name);
        if (method === 'DELETE') return vault.purge(name);
        throw methodNotAllowed(method);
      }
      if (second === 'recover' && third === undefined && method === 'POST') return vault.recover(base, name);
    }
    throw notFound();
  }

  function keyOperation(
    op: string,
    name: string,
    version: string | undefined,
    body: unknown,
    kid: string,
  ): unknown {
    const b64 = (buf: Buffer) => buf.toString('base64url');
    switch (op) {
      case 'sign': {
        const p = parseSign(body);
        return { kid, value: b64(vault.sign(name, version, p.alg, p.digest)) };
      }
      case 'verify': {
        const p = parseVerify(body);
        return { value: vault.verify(name, version, p.alg, p.digest, p.signature) };
      }
      case 'encrypt':
      case 'decrypt': {
        const p = parseCipher(body);
        const r = op === 'encrypt' ? vault.encrypt(name, version, p) : vault.decrypt(name, version, p);
        return {
          kid,
          value: b64(r.value),
          ...(r.iv ? { iv: b64(r.iv) } : {}),
          ...(r.tag ? { tag: b64(r.tag) } : {}),
          ...(r.aad ? { aad: b64(r.aad) } : {}),
        };
      }
      default: {
        const p = parseCipher(body);
        const value =
          op === 'wrapkey'
            ? vault.wrapKey(name, version, p.alg, p.value)
            : vault.unwrapKey(name, version, p.alg, p.value);
        return { kid, value: b64(value) };
      }
    }
  }

  async function admin(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    try {
      if (path === '/_emulator/health' && req.method === 'GET') {
        return sendJson(res, 200, { ok: true, service: 'keyvault', mode, url: emulator.url });
      }
      if (await handleFaultAdmin(req, res, path, faults)) return;
      sendError(res, notFound());
    } catch (err) {
      sendError(res, badParameter(describe(err)));
    }
  }

  const port = await listen(server, opts.port ?? 0);
  const emulator: KeyVaultEmulator = {
    url: `https://127.0.0.1:${port}`,
    port,
    mode,
    caCertPem: tls.caCertPem,
    caCertPath: tls.caCertPath,
    resource,
    faults,
    close: () => shutdown(server),
  };
  return emulator;
}

function injectFault(res: ServerResponse, fault: Fault): void {
  if (fault.kind === 'hang') return; // never answered; close() drops the connection
  if (fault.kind === 'throttle') {
    sendError(
      res,
      new KeyVaultError(
        429,
        'Throttled',
        'Request was not processed because too many requests were received. Reason: Vault Service Limit Exceeded.',
        undefined,
        { 'retry-after': String(fault.retryAfterSeconds) },
      ),
    );
    return;
  }
  sendError(
    res,
    new KeyVaultError(
      500,
      'InternalServerError',
      'The service encountered an internal error (injected fault).',
    ),
  );
}

function sendError(res: ServerResponse, err: KeyVaultError): void {
  sendJson(res, err.status, err.toBody(), { 'x-ms-request-id': randomUUID(), ...err.headers });
}

function notFound(): KeyVaultError {
  return new KeyVaultError(404, 'NotFound', 'The requested resource was not found.');
}

function methodNotAllowed(method: string): KeyVaultError {
  return new KeyVaultError(
    405,
    'MethodNotAllowed',
    `The requested method ${method} is not allowed on this resource.`,
  );
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * AWS KMS emulator: HTTP, JSON 1.1 protocol (`POST /`, `X-Amz-Target: TrentService.<Op>`,
 * `Content-Type: application/x-amz-json-1.1`), every request SigV4-verified against the configured
 * credentials before it is dispatched. Admin endpoints under `/_emulator/` (unsigned, loopback only) move the
 * clock and queue faults from other processes.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type Clock, OffsetClock } from '../shared/clock.js';
import { handleFaultAdmin } from '../shared/fault-admin.js';
import { type Fault, FaultQueue, type Faults } from '../shared/faults.js';
import { listen, readBody, sendJson, shutdown } from '../shared/http.js';
import { asObject, BodyError, optNumber, parseJson } from '../shared/validate.js';
import { KmsError } from './errors.js';
import { KmsService, parseBody } from './service.js';
import { type AwsCredentials, verifySigV4 } from './sigv4.js';

/** Credentials the emulator accepts by default (give the same to the SDK client). */
export const EMULATOR_AWS_CREDENTIALS: AwsCredentials = {
  accessKeyId: 'AKIAEMULATOR00000001',
  secretAccessKey: 'byok-emulator-secret-access-key-0000000001',
};

export interface KmsEmulatorOptions {
  readonly stateDir: string;
  /** 0 or absent: a free port. */
  readonly port?: number;
  /** Accepted access keys; default [EMULATOR_AWS_CREDENTIALS]. */
  readonly credentials?: AwsCredentials | readonly AwsCredentials[];
  /** Base time source of the emulator's clock (import token and key material expiry); default `new Date()`. */
  readonly now?: () => Date;
  readonly region?: string;
  readonly accountId?: string;
  /** RSA_2048 wrapping keys to generate before answering (see KmsServiceOptions.wrappingKeyPool). */
  readonly wrappingKeyPool?: number;
}

export interface KmsEmulator {
  /** `http://127.0.0.1:<port>`: the `endpoint` to give `KMSClient`. */
  readonly endpoint: string;
  readonly port: number;
  readonly region: string;
  readonly faults: Faults;
  /** The emulator's clock: `clock.advance(25 * 3600_000)` expires import tokens. SigV4 skew uses the real time. */
  readonly clock: Clock;
  close(): Promise<void>;
}

const JSON_11 = 'application/x-amz-json-1.1';

export async function startKmsEmulator(opts: KmsEmulatorOptions): Promise<KmsEmulator> {
  const credentials =
    opts.credentials === undefined
      ? [EMULATOR_AWS_CREDENTIALS]
      : Array.isArray(opts.credentials)
        ? opts.credentials
        : [opts.credentials as AwsCredentials];
  const region = opts.region ?? 'us-east-1';
  const clock = new OffsetClock(opts.now);
  const faults = new FaultQueue();
  const service = new KmsService({
    stateDir: opts.stateDir,
    clock,
    region,
    accountId: opts.accountId ?? '111122223333',
    ...(opts.wrappingKeyPool ? { wrappingKeyPool: opts.wrappingKeyPool } : {}),
  });
  await service.ready();

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, new KmsError('KMSInternalException', describe(err), 500));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname.startsWith('/_emulator/')) return admin(req, res, url.pathname);
    const body = await readBody(req);
    const fault = faults.take();
    if (fault) return injectFault(res, fault);
    try {
      verifySigV4(
        {
          method: req.method ?? 'POST',
          path: url.pathname,
          query: url.search.slice(1),
          headers: req.headers,
          body,
        },
        credentials,
        'kms',
        new Date(),
      );
      const target = String(req.headers['x-amz-target'] ?? '');
      const op = target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : '';
      const handler = op ? service.handler(op) : undefined;
      if (req.method !== 'POST' || !handler)
        throw new KmsError(
          'UnknownOperationException',
          `Unknown operation ${target || '(no X-Amz-Target)'}.`,
        );
      let parsed: unknown;
      try {
        parsed = parseJson(body);
      } catch {
        throw new KmsError('SerializationException', 'The request body is not valid JSON.');
      }
      sendJson(res, 200, await handler(parseBody(parsed)), { 'x-amzn-requestid': randomUUID() }, JSON_11);
    } catch (err) {
      if (err instanceof KmsError) return sendError(res, err);
      if (err instanceof BodyError) return sendError(res, new KmsError('ValidationException', err.message));
      throw err;
    }
  }

  async function admin(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    try {
      if (path === '/_emulator/health' && req.method === 'GET') {
        return sendJson(res, 200, {
          ok: true,
          service: 'kms',
          endpoint: emulator.endpoint,
          now: clock.now().toISOString(),
        });
      }
      if (path === '/_emulator/clock' && req.method === 'POST') {
        const o = asObject(parseJson(await readBody(req)), 'the request body');
        clock.advance((optNumber(o, 'advanceSeconds') ?? 0) * 1000);
        return sendJson(res, 200, { now: clock.now().toISOString() });
      }
      if (await handleFaultAdmin(req, res, path, faults)) return;
      sendJson(res, 404, { message: `no admin endpoint ${req.method} ${path}` });
    } catch (err) {
      sendJson(res, 400, { message: describe(err) });
    }
  }

  const port = await listen(server, opts.port ?? 0);
  const emulator: KmsEmulator = {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    region,
    faults,
    clock,
    close: () => shutdown(server),
  };
  return emulator;
}

function injectFault(res: ServerResponse, fault: Fault): void {
  if (fault.kind === 'hang') return;
  if (fault.kind === 'throttle') {
    // KMS answers throttling with HTTP 400 + ThrottlingException; the SDK retries on the error code.
    sendError(res, new KmsError('ThrottlingException', 'Rate exceeded', 400), {
      'retry-after': String(fault.retryAfterSeconds),
    });
    return;
  }
  sendError(
    res,
    new KmsError(
      'KMSInternalException',
      'The request was rejected because an internal exception occurred (injected fault).',
      500,
    ),
  );
}

function sendError(res: ServerResponse, err: KmsError, headers: Record<string, string> = {}): void {
  sendJson(res, err.status, err.toBody(), { 'x-amzn-requestid': randomUUID(), ...headers }, JSON_11);
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

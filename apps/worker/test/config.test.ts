import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_TASK_QUEUE,
  loadWorkerConfig,
  readCodecKey,
  readSecret,
  validateWorkerConfig,
} from '../src/config.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'byok-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('worker config', () => {
  it('reads a YAML file, resolves paths relative to it, and applies environment overrides', async () => {
    const file = join(dir, 'worker.yaml');
    await writeFile(
      file,
      [
        'temporal: { address: temporal.internal:7233 }',
        'codec: { keys: [{ id: k1, env: BYOK_CODEC_KEY }] }',
        'evidenceDir: evidence',
        'hsmProfiles:',
        '  softhsm: { library: /usr/lib/softhsm/libsofthsm2.so, tokenLabel: byok, pin: { file: softhsm.pin } }',
        '',
      ].join('\n'),
    );
    const config = loadWorkerConfig({ BYOK_WORKER_CONFIG: file, TEMPORAL_NAMESPACE: 'ceremonies' });
    expect(config.temporal).toEqual({
      address: 'temporal.internal:7233',
      namespace: 'ceremonies',
      taskQueue: DEFAULT_TASK_QUEUE,
    });
    expect(config.evidenceDir).toBe(join(dir, 'evidence'));
    expect(config.hsmProfiles.softhsm).toEqual({
      name: 'softhsm',
      library: '/usr/lib/softhsm/libsofthsm2.so',
      tokenLabel: 'byok',
      pin: { file: join(dir, 'softhsm.pin') },
      wrap: 'two-step',
      oaepHashes: ['sha1', 'sha256'],
    });
    expect(config.codecKeys).toEqual([{ id: 'k1', source: { env: 'BYOK_CODEC_KEY' } }]);
  });

  it('refuses a PIN written in the config, and other mistakes, naming the field', () => {
    const profile = { library: '/x.so', tokenLabel: 't' };
    expect(() => validateWorkerConfig({ hsmProfiles: { p: { ...profile, pin: '12345678' } } })).toThrow(
      /worker config: hsmProfiles\.p\.pin: never write the PIN itself/,
    );
    expect(() =>
      validateWorkerConfig({ hsmProfiles: { p: { ...profile, pin: { env: 'A', file: 'b' } } } }),
    ).toThrow(/hsmProfiles\.p\.pin: give exactly one of env or file/);
    expect(() =>
      validateWorkerConfig({ hsmProfiles: { p: { tokenLabel: 't', pin: { env: 'A' } } } }),
    ).toThrow(/hsmProfiles\.p\.library: missing/);
    expect(() => validateWorkerConfig({ temporal: { address: 'nope' } })).toThrow(
      /temporal\.address: 'nope' is not host:port/,
    );
    expect(() => validateWorkerConfig({ extra: 1 })).toThrow(/worker config: extra: unknown field/);
    expect(() =>
      validateWorkerConfig({
        codec: {
          keys: [
            { id: 'a', env: 'X' },
            { id: 'a', env: 'Y' },
          ],
        },
      }),
    ).toThrow(/codec\.keys\[1\]\.id: 'a' is listed twice/);
  });

  it('reads secrets from env or a private file only when asked, and refuses a world-readable file', async () => {
    process.env.BYOK_TEST_PIN = 'from-env-123';
    expect(readSecret({ env: 'BYOK_TEST_PIN' }, 'PIN')).toBe('from-env-123');
    expect(() => readSecret({ env: 'BYOK_TEST_UNSET' }, 'PIN of HSM profile p')).toThrow(
      'PIN of HSM profile p: environment variable BYOK_TEST_UNSET is not set',
    );
    const pinFile = join(dir, 'p.pin');
    await writeFile(pinFile, 'from-file-456\n', { mode: 0o600 });
    expect(readSecret({ file: pinFile }, 'PIN')).toBe('from-file-456');
    await chmod(pinFile, 0o644);
    expect(() => readSecret({ file: pinFile }, 'PIN')).toThrow(/readable by everyone; chmod 600 it/);

    process.env.BYOK_TEST_CODEC = Buffer.alloc(32, 7).toString('base64');
    expect(readCodecKey({ id: 'k', source: { env: 'BYOK_TEST_CODEC' } })).toHaveLength(32);
    process.env.BYOK_TEST_CODEC = Buffer.alloc(16).toString('base64');
    expect(() => readCodecKey({ id: 'k', source: { env: 'BYOK_TEST_CODEC' } })).toThrow(/base64 of 32 bytes/);
  });
});

describe('worker config: clouds and Temporal TLS', () => {
  it('reads cloud targets (secrets as sources only) and mTLS settings, from the file and the environment', () => {
    const config = validateWorkerConfig(
      {
        temporal: { address: 'byok.a1b2c.tmprl.cloud:7233', tls: { certFile: 'c.crt', keyFile: 'c.key' } },
        clouds: {
          azure: [{ vaultUrl: 'https://kv.example/', caFile: 'ca.pem', token: { env: 'KV_TOKEN' } }],
          aws: [{ region: 'eu-west-1', accessKeyId: { env: 'A' }, secretAccessKey: { file: 's' } }],
        },
      },
      '/etc/byok',
    );
    expect(config.temporal.tls).toEqual({ certFile: '/etc/byok/c.crt', keyFile: '/etc/byok/c.key' });
    expect(config.clouds).toEqual([
      {
        cloud: 'azure',
        vaultUrl: 'https://kv.example',
        caFile: '/etc/byok/ca.pem',
        token: { env: 'KV_TOKEN' },
        disableChallengeResourceVerification: false,
      },
      {
        cloud: 'aws',
        region: 'eu-west-1',
        accessKeyId: { env: 'A' },
        secretAccessKey: { file: '/etc/byok/s' },
      },
    ]);
    expect(() =>
      validateWorkerConfig({ clouds: { aws: [{ region: 'eu-west-1', accessKeyId: { env: 'A' } }] } }),
    ).toThrow(/clouds\.aws\[0\]: give both accessKeyId and secretAccessKey/);
    expect(() => validateWorkerConfig({ temporal: { tls: { certFile: 'x' } } })).toThrow(
      /give both certFile and keyFile/,
    );
    expect(() => validateWorkerConfig({ clouds: { gcp: [] } })).toThrow(/clouds\.gcp: unknown field/);
    const fromEnv = loadWorkerConfig({
      TEMPORAL_TLS_CERT_FILE: '/t/c.crt',
      TEMPORAL_TLS_KEY_FILE: '/t/c.key',
    });
    expect(fromEnv.temporal.tls).toEqual({ certFile: '/t/c.crt', keyFile: '/t/c.key' });
  });
});

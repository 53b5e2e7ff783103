import { decode as iniDecode } from 'ini';
import { describe, expect, it } from 'vitest';
import { HSM_CONFIG_KEYS, parseHsmConfig } from '../src/config.js';
import { ByokError } from '../src/errors.js';
import { thrown } from './keys.js';

/** The DOCS/hsmbyok.txt example, with the Linux library path. */
const SAMPLE = `;
; sample File 'HsmConfig.ini'
;

;
; options for byok command
;
[ byok ]

; cryptoki library
libraryName = "/usr/lib/softhsm/libsofthsm2.so"

; label of partition
tokenLabel = "par1hsm1"

; available ciphers for wrapping
wrappingCiphers = CKG_MGF1_SHA1, CKM_AES_KWP

; label of key to find/generate
targetKeyName = "my-target-key-rsa1"

; details of key to generate
targetKeySpec = CKK_RSA, 2048, none
targetKeyFlags = CKF_ENCRYPT, CKF_DECRYPT, CKF_SIGN, CKF_VERIFY, CKF_TOKEN, CKF_MODIFIABLE, CKF_EXTRACTABLE

; Azure kid
kid = "https://myvault.vault.azure.net/keys/mykek/FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"

; Azure schema
SchemaVersion = "1.0.0.0"
`;

/** Replaces the whole line of `key` (first match, case-insensitive) with `line`, or drops it when null. */
function withLine(key: string, line: string | null, text = SAMPLE): string {
  const re = new RegExp(`^${key}\\s*=.*$`, 'im');
  expect(text).toMatch(re);
  return line === null ? text.replace(re, '') : text.replace(re, line);
}

function configError(text: string | Buffer, code = 'CKR_ARGUMENTS_BAD'): ByokError {
  const e = thrown(() => parseHsmConfig(text));
  expect(e).toBeInstanceOf(ByokError);
  const err = e as ByokError;
  expect(err.code).toBe(code);
  expect(err.message).not.toContain('\n');
  return err;
}

describe('parseHsmConfig: the documented example', () => {
  it('parses every key into typed values', () => {
    const { config, warnings } = parseHsmConfig(SAMPLE);
    expect(config.libraryName).toBe('/usr/lib/softhsm/libsofthsm2.so');
    expect(config.tokenLabel).toBe('par1hsm1');
    expect(config.wrappingCiphers).toEqual(['CKG_MGF1_SHA1', 'CKM_AES_KWP']);
    expect(config.wrapMethod).toEqual({ kind: 'two-step', oaepHash: 'sha1', kwpName: 'CKM_AES_KWP' });
    expect(config.schemaVersion).toBe('1.0.0.0');
    expect(config.kid).toBe(
      'https://myvault.vault.azure.net/keys/mykek/FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
    );
    expect(config.targetKeyName).toBe('my-target-key-rsa1');
    expect(config.targetKeySpec).toEqual({ kind: 'rsa', bits: 2048 });
    expect([...config.targetKeyFlags].sort()).toEqual(
      [
        'CKF_DECRYPT',
        'CKF_ENCRYPT',
        'CKF_EXTRACTABLE',
        'CKF_MODIFIABLE',
        'CKF_SIGN',
        'CKF_TOKEN',
        'CKF_VERIFY',
      ].sort(),
    );
    expect(warnings).toEqual([]);
  });

  it("lists entries in the original's ReadIni order, whatever the file's order", () => {
    const { entries } = parseHsmConfig(SAMPLE);
    expect(entries.map((e) => e.name)).toEqual([
      'libraryName',
      'tokenLabel',
      'wrappingCiphers',
      'SchemaVersion',
      'kid',
      'targetKeyName',
      'targetKeySpec',
      'targetKeyFlags',
    ]);
    expect(entries.map((e) => e.name)).toEqual([...HSM_CONFIG_KEYS]);
    expect(entries[2]?.value).toBe('CKG_MGF1_SHA1, CKM_AES_KWP');
    expect(entries[6]?.value).toBe('CKK_RSA, 2048, none');
  });

  it('agrees with the ini package on a plain file (no quotes, no escapes)', () => {
    const plain = SAMPLE.replace(/"/g, '');
    const byIni = iniDecode(plain).byok as Record<string, string>;
    const { entries } = parseHsmConfig(plain);
    for (const e of entries) expect(e.value, e.name).toBe(byIni[e.name]);
  });
});

describe('parseHsmConfig: syntax the original accepts, and its bugs fixed', () => {
  it('matches key and section names case-insensitively, ignoring white space', () => {
    let text = SAMPLE.replace('[ byok ]', '[BYOK]')
      .replace('targetKeySpec', 'TARGETKEYSPEC')
      .replace('libraryName', 'library Name');
    text = withLine('targetKeyFlags', 'targetkeyflags = ckf_token, ckf_extractable', text);
    const { config, entries } = parseHsmConfig(text);
    expect(config.targetKeySpec).toEqual({ kind: 'rsa', bits: 2048 });
    expect([...config.targetKeyFlags]).toEqual(['CKF_TOKEN', 'CKF_EXTRACTABLE']);
    expect(entries[0]).toEqual({ name: 'libraryName', value: '/usr/lib/softhsm/libsofthsm2.so' });
  });

  it('reads CRLF, lone CR, a UTF-8 BOM and UTF-16LE with BOM', () => {
    const expected = parseHsmConfig(SAMPLE).entries;
    const crlf = SAMPLE.replace(/\n/g, '\r\n');
    expect(parseHsmConfig(crlf).entries).toEqual(expected);
    expect(parseHsmConfig(SAMPLE.replace(/\n/g, '\r')).entries).toEqual(expected);
    expect(parseHsmConfig(`\ufeff${crlf}`).entries).toEqual(expected);
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(crlf)]);
    expect(parseHsmConfig(bom).entries).toEqual(expected);
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(crlf, 'utf16le')]);
    expect(parseHsmConfig(utf16).entries).toEqual(expected);
  });

  it('keeps quoted values literal: ; inside quotes, backslashes, spaces, = and [', () => {
    let text = withLine('libraryName', 'libraryName = ".\\cryptoki.dll"');
    text = withLine('tokenLabel', 'tokenLabel = "a;b c"   ; the label has a semicolon', text);
    text = withLine('kid', 'kid = "https://v.example/keys/k?x=1;y=[2]"', text);
    text = withLine('targetKeyName', 'targetKeyName = "C:\\new\\key"', text);
    const { config } = parseHsmConfig(text);
    expect(config.libraryName).toBe('.\\cryptoki.dll');
    expect(config.tokenLabel).toBe('a;b c');
    expect(config.kid).toBe('https://v.example/keys/k?x=1;y=[2]');
    expect(config.targetKeyName).toBe('C:\\new\\key');
  });

  it('keeps spaces inside unquoted values, strips comments and ends', () => {
    let text = withLine('targetKeyName', 'targetKeyName =   my key  name   ; comment');
    text = withLine('tokenLabel', 'tokenLabel=par#1', text);
    text = withLine('kid', 'kid = https://v/keys/k?a=b', text);
    const { config } = parseHsmConfig(text);
    expect(config.targetKeyName).toBe('my key  name');
    expect(config.tokenLabel).toBe('par#1');
    expect(config.kid).toBe('https://v/keys/k?a=b');
  });

  it('reads a quote in the middle of a value, as in CKK_EC, 384, "P-384"', () => {
    const { config, entries } = parseHsmConfig(
      withLine('targetKeySpec', 'targetKeySpec = CKK_EC, 384, "P-384"'),
    );
    expect(config.targetKeySpec.kind === 'ec' && config.targetKeySpec.curve.name).toBe('P-384');
    expect(entries[6]?.value).toBe('CKK_EC, 384, P-384');
  });

  it('reads lines of any length (the original cut them at 255 bytes)', () => {
    const kid = `https://myvault.vault.azure.net/keys/${'k'.repeat(5000)}`;
    expect(parseHsmConfig(withLine('kid', `kid = "${kid}"`)).config.kid).toBe(kid);
  });

  it('uses the first of duplicated keys and the first [byok] section, with warnings', () => {
    const text = `${withLine('kid', 'kid = first\nkid = second')}\n[other]\nkid = x\n[byok]\nkid = third\n`;
    const { config, warnings } = parseHsmConfig(text);
    expect(config.kid).toBe('first');
    expect(
      warnings.some((w) => /kid is given again and ignored; the first one \(line \d+\) is used/.test(w)),
    ).toBe(true);
    expect(warnings.some((w) => /a second \[byok\] section is ignored/.test(w))).toBe(true);
  });

  it('ignores other sections and keys before any section, warns about unknown [byok] keys', () => {
    const text = `stray = 1\n[other]\nlibraryName = nope\n${SAMPLE}\nmasterKeyName = x\n`;
    const { config, warnings } = parseHsmConfig(text);
    expect(config.libraryName).toBe('/usr/lib/softhsm/libsofthsm2.so');
    expect(warnings).toEqual([expect.stringMatching(/unknown key 'masterKeyName' in \[byok\] is ignored/)]);
  });

  it('accepts flags and ciphers separated by commas and/or spaces, any case', () => {
    let text = withLine('targetKeyFlags', 'targetKeyFlags = CKF_TOKEN CKF_EXTRACTABLE,,ckf_sign');
    text = withLine('wrappingCiphers', 'wrappingCiphers = ckm_rsa_aes_key_wrap ckg_mgf1_sha1', text);
    const { config } = parseHsmConfig(text);
    expect(config.targetKeyFlags).toEqual(new Set(['CKF_TOKEN', 'CKF_EXTRACTABLE', 'CKF_SIGN']));
    expect(config.wrappingCiphers).toEqual(['CKM_RSA_AES_KEY_WRAP', 'CKG_MGF1_SHA1']);
    expect(config.wrapMethod).toEqual({ kind: 'one-step', oaepHash: 'sha1' });
  });
});

describe('parseHsmConfig: wrapping ciphers and the OAEP hash', () => {
  const ciphers = (v: string) => parseHsmConfig(withLine('wrappingCiphers', `wrappingCiphers = ${v}`));

  it('selects one-step or two-step with the right RFC 5649 name', () => {
    expect(ciphers('CKG_MGF1_SHA1, CKM_RSA_AES_KEY_WRAP').config.wrapMethod).toEqual({
      kind: 'one-step',
      oaepHash: 'sha1',
    });
    expect(ciphers('CKG_MGF1_SHA1, CKM_RSA_AES_KEY_WRAP, CKM_AES_KWP').config.wrapMethod.kind).toBe(
      'one-step',
    );
    expect(ciphers('CKG_MGF1_SHA256, CKM_AES_KEY_WRAP_KWP').config.wrapMethod).toEqual({
      kind: 'two-step',
      oaepHash: 'sha256',
      kwpName: 'CKM_AES_KEY_WRAP_KWP',
    });
    // The original checks the v3.0 name first.
    expect(ciphers('CKG_MGF1_SHA1, CKM_AES_KWP, CKM_AES_KEY_WRAP_KWP').config.wrapMethod).toMatchObject({
      kwpName: 'CKM_AES_KEY_WRAP_KWP',
    });
  });

  it('picks the strongest listed hash like the original, and says so', () => {
    const both = ciphers('CKG_MGF1_SHA1, CKG_MGF1_SHA256, CKM_AES_KWP');
    expect(both.config.wrapMethod.oaepHash).toBe('sha256');
    expect(both.warnings).toEqual([
      'wrappingCiphers lists CKG_MGF1_SHA256, CKG_MGF1_SHA1: using CKG_MGF1_SHA256, the strongest, as the original ' +
        'hsmbyok does; Azure Key Vault requires CKG_MGF1_SHA1, so list only that for Azure',
    ]);
    expect(
      ciphers('CKG_MGF1_SHA224, CKG_MGF1_SHA512, CKG_MGF1_SHA384, CKM_AES_KWP').config.wrapMethod.oaepHash,
    ).toBe('sha512');
    for (const [name, hash] of [
      ['CKG_MGF1_SHA1', 'sha1'],
      ['CKG_MGF1_SHA224', 'sha224'],
      ['CKG_MGF1_SHA256', 'sha256'],
      ['CKG_MGF1_SHA384', 'sha384'],
      ['CKG_MGF1_SHA512', 'sha512'],
    ] as const) {
      const parsed = ciphers(`${name}, CKM_RSA_AES_KEY_WRAP`);
      expect(parsed.config.wrapMethod.oaepHash).toBe(hash);
      expect(parsed.warnings.length, name).toBe(hash === 'sha1' || hash === 'sha256' ? 0 : 1);
    }
  });

  it('refuses a list without a hash or a wrap mechanism (CKR_MECHANISM_INVALID), and unknown names', () => {
    const noHash = configError(
      withLine('wrappingCiphers', 'wrappingCiphers = CKM_AES_KWP'),
      'CKR_MECHANISM_INVALID',
    );
    expect(noHash.message).toBe(
      "HsmConfig.ini [byok] wrappingCiphers: no OAEP hash in 'CKM_AES_KWP'; allowed: CKG_MGF1_SHA512, " +
        'CKG_MGF1_SHA384, CKG_MGF1_SHA256, CKG_MGF1_SHA224, CKG_MGF1_SHA1 (Azure requires CKG_MGF1_SHA1)',
    );
    const noMech = configError(
      withLine('wrappingCiphers', 'wrappingCiphers = CKG_MGF1_SHA1'),
      'CKR_MECHANISM_INVALID',
    );
    expect(noMech.message).toMatch(/no wrap mechanism in 'CKG_MGF1_SHA1'; allowed: CKM_RSA_AES_KEY_WRAP/);
    const unknown = configError(
      withLine('wrappingCiphers', 'wrappingCiphers = CKG_MGF1_SHA1, CKM_AES_KEY_WRAP_PAD'),
    );
    expect(unknown.message).toMatch(
      /^HsmConfig\.ini \[byok\] wrappingCiphers: unknown cipher 'CKM_AES_KEY_WRAP_PAD'; allowed: CKM_RSA_AES_KEY_WRAP, /,
    );
  });
});

describe('parseHsmConfig: errors, one line each, naming key, value and what is allowed', () => {
  it('names every missing key', () => {
    const e = configError(withLine('kid', null, withLine('libraryName', null)));
    expect(e.message).toBe(
      'HsmConfig.ini [byok] libraryName, kid: missing; all of libraryName, tokenLabel, wrappingCiphers, ' +
        'SchemaVersion, kid, targetKeyName, targetKeySpec, targetKeyFlags are required',
    );
    for (const key of HSM_CONFIG_KEYS) {
      expect(configError(withLine(key, null)).message).toContain(`[byok] ${key}: missing`);
    }
  });

  it('reports a missing [byok] section, keys outside it, and an empty file', () => {
    const noSection = SAMPLE.replace('[ byok ]', '[byok2]');
    expect(configError(noSection).message).toMatch(
      /^HsmConfig\.ini: no \[byok\] section; it must hold libraryName/,
    );
    expect(configError('').message).toMatch(/no \[byok\] section/);
    expect(configError(SAMPLE.replace('[ byok ]', '')).message).toMatch(/no \[byok\] section/);
  });

  it('rejects an unknown flag instead of ignoring it', () => {
    const e = configError(withLine('targetKeyFlags', 'targetKeyFlags = CKF_TOKEN, CKF_EXTRACTABL'));
    expect(e.message).toBe(
      "HsmConfig.ini [byok] targetKeyFlags: unknown flag 'CKF_EXTRACTABL'; allowed: CKF_ENCRYPT, CKF_DECRYPT, " +
        'CKF_SIGN, CKF_SIGN_RECOVER, CKF_VERIFY, CKF_VERIFY_RECOVER, CKF_WRAP, CKF_UNWRAP, CKF_DERIVE, ' +
        'CKF_EXTRACTABLE, CKF_TOKEN, CKF_MODIFIABLE, CKF_CREATE_IF_NOT_FOUND',
    );
  });

  it('rejects bad key specs with the key named', () => {
    const rows: [string, RegExp][] = [
      [
        'CKK_EC, 384, P-256',
        /^HsmConfig\.ini \[byok\] targetKeySpec: curve P-256 is 256 bits, not 384 in 'CKK_EC, 384, P-256'; allowed: CKK_EC, 256, P-256$/,
      ],
      ['CKK_EC, 256, brainpoolP256r1', /targetKeySpec: unknown curve 'brainpoolP256r1'/],
      ['CKK_RSA, 1000, none', /targetKeySpec: RSA size 1000 in 'CKK_RSA, 1000, none'; allowed: 1024 to 8192/],
      ['CKK_AES, 64, none', /targetKeySpec: AES size 64/],
      ['CKK_RSA', /targetKeySpec: expected 3 values, found 1/],
    ];
    for (const [spec, pattern] of rows) {
      expect(configError(withLine('targetKeySpec', `targetKeySpec = ${spec}`)).message, spec).toMatch(
        pattern,
      );
    }
  });

  it('rejects empty values and over-long token labels', () => {
    expect(configError(withLine('kid', 'kid = ""')).message).toBe(
      "HsmConfig.ini [byok] kid: empty value ''; a value is required",
    );
    expect(configError(withLine('kid', 'kid =   ; nothing')).message).toMatch(/\[byok\] kid: empty value/);
    const label = 'x'.repeat(33);
    expect(configError(withLine('tokenLabel', `tokenLabel = ${label}`)).message).toBe(
      `HsmConfig.ini [byok] tokenLabel: '${label}' is 33 bytes; allowed: at most 32 bytes (a PKCS#11 token label)`,
    );
    expect(
      parseHsmConfig(withLine('tokenLabel', `tokenLabel = ${'x'.repeat(32)}`)).config.tokenLabel,
    ).toHaveLength(32);
  });

  it('rejects syntax errors with the line number instead of silently stopping', () => {
    const rows: [string, RegExp][] = [
      [
        'kid = "unterminated',
        /^HsmConfig\.ini line \d+: unterminated double quote in 'kid = "unterminated'$/,
      ],
      ['kid = "a" b', /line \d+: text after the closing quote: 'b'/],
      ['just some words', /line \d+: expected 'name = value', a '\[section\]' header or a ';' comment/],
      ['kid ; = x', /line \d+: expected 'name = value'/],
      ['= value', /line \d+: no name before '='/],
      ['"kid" = x', /line \d+: invalid name '"kid"'/],
    ];
    for (const [line, pattern] of rows) {
      expect(configError(withLine('kid', line)).message, line).toMatch(pattern);
    }
    expect(configError(SAMPLE.replace('[ byok ]', '[ byok')).message).toMatch(
      /line 8: section header without '\]'/,
    );
    expect(configError(SAMPLE.replace('[ byok ]', '[byok] x')).message).toMatch(
      /line 8: text after the section header/,
    );
    expect(configError(SAMPLE.replace('[ byok ]', '[by[ok]')).message).toMatch(
      /'\[' inside a section header/,
    );
  });

  it('names its source', () => {
    const e = thrown(() => parseHsmConfig('', { source: '.\\HsmConfig.ini' }));
    expect((e as ByokError).message).toMatch(/^\.\\HsmConfig\.ini: no \[byok\] section/);
  });

  it('refuses values that are not valid UTF-8', () => {
    const bytes = Buffer.from(withLine('tokenLabel', 'tokenLabel = caf\u00e9'), 'latin1');
    expect(configError(bytes).message).toMatch(
      /tokenLabel: 'caf\ufffd' is not valid UTF-8; save HsmConfig\.ini as UTF-8/,
    );
  });
});

describe('parseHsmConfig: warnings', () => {
  const flags = (spec: string, f: string) =>
    parseHsmConfig(
      withLine(
        'targetKeyFlags',
        `targetKeyFlags = ${f}`,
        withLine('targetKeySpec', `targetKeySpec = ${spec}`),
      ),
    ).warnings;

  it('warns about flags that make no sense for the key type', () => {
    expect(
      flags('CKK_AES, 256, none', 'CKF_SIGN, CKF_VERIFY, CKF_ENCRYPT, CKF_TOKEN, CKF_EXTRACTABLE'),
    ).toEqual([
      expect.stringMatching(/^targetKeyFlags: CKF_SIGN, CKF_VERIFY make no sense for an AES-256 key/),
    ]);
    expect(flags('CKK_EC, 256, P-256', 'CKF_SIGN, CKF_DECRYPT, CKF_TOKEN, CKF_EXTRACTABLE')).toEqual([
      expect.stringMatching(/^targetKeyFlags: CKF_DECRYPT makes no sense for an EC P-256 key/),
    ]);
    expect(flags('CKK_RSA, 2048, none', 'CKF_DERIVE, CKF_TOKEN, CKF_EXTRACTABLE')).toHaveLength(1);
    expect(
      flags('CKK_EC, 256, P-256', 'CKF_SIGN, CKF_VERIFY, CKF_DERIVE, CKF_TOKEN, CKF_EXTRACTABLE'),
    ).toEqual([]);
  });

  it('warns when the key would be unwrappable or vanish after the run', () => {
    const w = flags('CKK_RSA, 2048, none', 'CKF_SIGN');
    expect(w).toHaveLength(2);
    expect(w[0]).toMatch(/no CKF_EXTRACTABLE: .* can never be wrapped/);
    expect(w[1]).toMatch(/no CKF_TOKEN: .* vanishes when the run ends/);
  });

  it('passes on key spec warnings', () => {
    expect(flags('CKK_RSA, 1024, none', 'CKF_TOKEN, CKF_EXTRACTABLE')).toEqual([
      expect.stringMatching(/^RSA-1024 is accepted by no cloud KMS/),
    ]);
    expect(flags('CKK_AES, 192, none', 'CKF_TOKEN, CKF_EXTRACTABLE')).toEqual([
      expect.stringMatching(/^AES-192 imports only into Azure Managed HSM/),
    ]);
  });
});

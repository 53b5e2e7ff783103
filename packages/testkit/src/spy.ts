import { firstExisting } from './tools.js';

/**
 * OpenSC's pkcs11-spy is a PKCS#11 module that logs every call (arguments, templates, results) and
 * forwards it to the module named by PKCS11SPY. Tests put it between the code under test and SoftHSM
 * (or the Luna shim) and then read the log to prove what the code did NOT do: read key material, or
 * leave ephemeral keys behind.
 *
 * The log holds PINs and any key value that crossed the interface in clear: keep it in the test's temp folder.
 */

const SPY_CANDIDATES = [
  '/usr/lib/x86_64-linux-gnu/pkcs11-spy.so',
  '/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so',
  '/usr/lib/aarch64-linux-gnu/pkcs11-spy.so',
  '/usr/lib/aarch64-linux-gnu/pkcs11/pkcs11-spy.so',
  '/usr/lib/pkcs11/pkcs11-spy.so',
  '/usr/local/lib/pkcs11-spy.so',
];

/** Path of pkcs11-spy.so; throws with an install hint when OpenSC's module is absent. */
export function spyLibraryPath(): string {
  const found = firstExisting(SPY_CANDIDATES);
  if (found === undefined) {
    throw new Error(
      `pkcs11-spy.so not found (looked in ${SPY_CANDIDATES.join(', ')}); install it with 'apt-get install opensc-pkcs11'`,
    );
  }
  return found;
}

/** Environment for a process that loads spyLibraryPath() instead of `realModule`, logging to `logFile`. */
export function spyEnv(realModule: string, logFile: string): { PKCS11SPY: string; PKCS11SPY_OUTPUT: string } {
  return { PKCS11SPY: realModule, PKCS11SPY_OUTPUT: logFile };
}

/** Attributes whose value is key material: reading one is reading the key. */
export const SENSITIVE_ATTRIBUTES: readonly string[] = [
  'CKA_VALUE',
  'CKA_PRIVATE_EXPONENT',
  'CKA_PRIME_1',
  'CKA_PRIME_2',
  'CKA_EXPONENT_1',
  'CKA_EXPONENT_2',
  'CKA_COEFFICIENT',
];

/** Classes whose CKA_VALUE is not secret (a certificate's DER, a data object, a DH/DSA public value). */
const PUBLIC_CLASSES = new Set(['CKO_CERTIFICATE', 'CKO_DATA', 'CKO_PUBLIC_KEY']);

export interface SpyCall {
  /** The spy's call number (restarts in each process that loaded the spy). */
  readonly index: number;
  readonly name: string;
  /** Which process in the log (0 for the first one that loaded the spy). */
  readonly process: number;
  /** The return value's name, e.g. CKR_OK; undefined when the log ends inside the call. */
  readonly returned: string | undefined;
  readonly lines: readonly string[];
}

export interface SensitiveRead {
  readonly call: string;
  readonly object: string;
  readonly attribute: string;
  /** true when bytes came back (not just a length, not refused). */
  readonly exposed: boolean;
  readonly returned: string | undefined;
}

export interface SpyAnalysis {
  /** Function names in call order, e.g. ['C_Initialize', 'C_GetSlotList', ...]. */
  readonly calls: string[];
  /** Every C_GetAttributeValue that asked for key material, described in one line each. */
  readonly sensitiveReads: string[];
  readonly sensitiveReadDetails: SensitiveRead[];
  /** Session objects (CKA_TOKEN false) created and never C_DestroyObject'ed; 'unknown' if the log cannot tell. */
  readonly sessionObjectsLeft: number | 'unknown';
  readonly sessionObjectsCreated: number;
  readonly sessionObjectsDestroyed: number;
  /** One line per session object left: the call that made it and its handle. */
  readonly sessionObjectsLeftDetails: string[];
  /** Mechanisms passed to any call, in order, e.g. { call: 'C_WrapKey', mechanism: '0x80000171' }. */
  readonly mechanisms: Array<{ call: string; mechanism: string }>;
  /** Calls that returned something other than CKR_OK, e.g. '#13 C_GetAttributeValue: CKR_ATTRIBUTE_SENSITIVE'. */
  readonly failures: string[];
  readonly parsedCalls: SpyCall[];
}

const BANNER = /OpenSC PKCS#11 spy/;
const CALL_HEADER = /^(\d+): (C_\w+|CA_\w+)\s*$/;
const RETURNED = /^Returned:\s+(\d+)\s+(\S+)/;
const TEMPLATE_HEADER = /^\[(in|out)\] (p\w*Template)\[\d+\]:/;
const ATTRIBUTE_LINE = /^ {4}(CKA_\w+|0x[0-9A-Fa-f]+)\s+(.*?)\s*$/;
const OUT_HANDLE = /^\[out\] \*?(\w+) = (0x[0-9A-Fa-f]+)\s*$/;
const IN_HANDLE = /^\[in\] (hObject|hKey) = (0x[0-9A-Fa-f]+)\s*$/;
const MECHANISM = /^\[in\] pMechanism->type = (\S+)/;
const BYTES_VALUE = /^([0-9A-Fa-f]+|\(nil\)) \/ (-?\d+)$/;

type Template = Map<string, string>;

function splitCalls(text: string): SpyCall[] {
  const calls: SpyCall[] = [];
  let process = -1;
  let current: { index: number; name: string; process: number; lines: string[] } | undefined;
  const finish = () => {
    if (current === undefined) return;
    let returned: string | undefined;
    for (const line of current.lines) {
      const m = RETURNED.exec(line);
      if (m) returned = m[2];
    }
    calls.push({ ...current, returned });
    current = undefined;
  };
  for (const line of text.split(/\r?\n/)) {
    if (BANNER.test(line)) {
      finish();
      process++;
      continue;
    }
    const header = CALL_HEADER.exec(line);
    if (header) {
      finish();
      current = { index: Number(header[1]), name: header[2] ?? '', process: Math.max(process, 0), lines: [] };
      continue;
    }
    current?.lines.push(line);
  }
  finish();
  return calls;
}

/** Templates of one call by their header name and direction, e.g. 'in pTemplate', 'in pPrivateKeyTemplate'. */
function templates(call: SpyCall): Map<string, Template> {
  const result = new Map<string, Template>();
  let open: Template | undefined;
  for (const line of call.lines) {
    const header = TEMPLATE_HEADER.exec(line);
    if (header) {
      open = new Map();
      result.set(`${header[1]} ${header[2]}`, open);
      continue;
    }
    if (line.startsWith('[') || line.startsWith('Returned:')) {
      open = undefined;
      continue;
    }
    const attribute = ATTRIBUTE_LINE.exec(line);
    if (open !== undefined && attribute) open.set(attribute[1] ?? '', attribute[2] ?? '');
  }
  return result;
}

function outHandles(call: SpyCall): Map<string, string> {
  const result = new Map<string, string>();
  for (const line of call.lines) {
    const m = OUT_HANDLE.exec(line);
    if (m) result.set(m[1] ?? '', (m[2] ?? '').toLowerCase());
  }
  return result;
}

function inHandle(call: SpyCall, name: 'hObject' | 'hKey'): string | undefined {
  for (const line of call.lines) {
    const m = IN_HANDLE.exec(line);
    if (m && m[1] === name) return (m[2] ?? '').toLowerCase();
  }
  return undefined;
}

/** CKA_TOKEN absent means false (the PKCS#11 default): a session object. */
function isSessionTemplate(template: Template | undefined): boolean {
  return template?.get('CKA_TOKEN') !== 'True';
}

/** Reads a pkcs11-spy log. Understands logs of several processes appended to one file. */
export function analyseSpyLog(text: string): SpyAnalysis {
  const parsedCalls = splitCalls(text);
  const sensitiveReadDetails: SensitiveRead[] = [];
  const mechanisms: Array<{ call: string; mechanism: string }> = [];
  const failures: string[] = [];
  const classes = new Map<string, string>(); // 'process:handle' -> CKO_*
  const live = new Map<string, string>(); // session objects alive: 'process:handle' -> description
  let created = 0;
  let destroyed = 0;
  let unknown = false;

  for (const call of parsedCalls) {
    const tag = `#${call.index} ${call.name}`;
    const key = (handle: string) => `${call.process}:${handle}`;
    for (const line of call.lines) {
      const m = MECHANISM.exec(line);
      if (m) mechanisms.push({ call: call.name, mechanism: m[1] ?? '' });
    }
    if (call.returned === undefined) {
      // The log ends inside this call: anything it created cannot be accounted for.
      if (/^C_(CreateObject|CopyObject|GenerateKey|GenerateKeyPair|UnwrapKey|DeriveKey)$/.test(call.name))
        unknown = true;
      continue;
    }
    if (call.returned !== 'CKR_OK') failures.push(`${tag}: ${call.returned}`);

    const tpl = templates(call);
    const out = outHandles(call);
    const remember = (
      handle: string | undefined,
      template: Template | undefined,
      klass: string | undefined,
    ) => {
      if (handle === undefined) {
        unknown = true;
        return;
      }
      if (klass !== undefined) classes.set(key(handle), klass);
      if (isSessionTemplate(template)) {
        live.set(key(handle), `${tag} -> ${handle}`);
        created++;
      }
    };

    switch (call.name) {
      case 'C_GetAttributeValue': {
        const object = inHandle(call, 'hObject') ?? '?';
        const asked = tpl.get('in pTemplate');
        const answered = tpl.get('out pTemplate');
        const klass = answered?.get('CKA_CLASS');
        if (klass?.startsWith('CKO_')) classes.set(key(object), klass);
        if (PUBLIC_CLASSES.has(classes.get(key(object)) ?? '')) break;
        for (const attribute of asked?.keys() ?? []) {
          if (!SENSITIVE_ATTRIBUTES.includes(attribute)) continue;
          const value = BYTES_VALUE.exec(answered?.get(attribute) ?? '');
          const exposed =
            value !== null && Number(value[2]) >= 0 && !/^0+$/.test(value[1] ?? '') && value[1] !== '(nil)';
          sensitiveReadDetails.push({ call: tag, object, attribute, exposed, returned: call.returned });
        }
        break;
      }
      case 'C_CreateObject':
      case 'C_UnwrapKey':
      case 'C_DeriveKey': {
        if (call.returned !== 'CKR_OK') break;
        const template = tpl.get('in pTemplate');
        remember(out.values().next().value, template, template?.get('CKA_CLASS'));
        break;
      }
      case 'C_GenerateKey': {
        if (call.returned !== 'CKR_OK') break;
        remember(out.values().next().value, tpl.get('in pTemplate'), 'CKO_SECRET_KEY');
        break;
      }
      case 'C_GenerateKeyPair': {
        if (call.returned !== 'CKR_OK') break;
        remember(
          out.get('hPublicKey') ?? out.get('phPublicKey'),
          tpl.get('in pPublicKeyTemplate'),
          'CKO_PUBLIC_KEY',
        );
        remember(
          out.get('hPrivateKey') ?? out.get('phPrivateKey'),
          tpl.get('in pPrivateKeyTemplate'),
          'CKO_PRIVATE_KEY',
        );
        break;
      }
      case 'C_CopyObject': {
        if (call.returned !== 'CKR_OK') break;
        const source = inHandle(call, 'hObject');
        const handle = out.values().next().value;
        const token = tpl.get('in pTemplate')?.get('CKA_TOKEN');
        // Without CKA_TOKEN in the template the copy is what its source was; a source we did not see
        // created in this process is a token object.
        const session =
          token === undefined ? source !== undefined && live.has(key(source)) : token !== 'True';
        if (handle === undefined) {
          unknown = true;
        } else if (session) {
          live.set(key(handle), `${tag} -> ${handle}`);
          created++;
        }
        break;
      }
      case 'C_DestroyObject': {
        const handle = inHandle(call, 'hObject');
        if (call.returned === 'CKR_OK' && handle !== undefined && live.delete(key(handle))) destroyed++;
        break;
      }
    }
  }

  const describe = (r: SensitiveRead) =>
    `${r.call} ${r.attribute} of object ${r.object}: ` +
    (r.exposed ? 'VALUE RETURNED' : r.returned !== 'CKR_OK' ? `refused (${r.returned})` : 'length queried');
  return {
    calls: parsedCalls.map((c) => c.name),
    sensitiveReads: sensitiveReadDetails.map(describe),
    sensitiveReadDetails,
    sessionObjectsLeft: unknown ? 'unknown' : live.size,
    sessionObjectsCreated: created,
    sessionObjectsDestroyed: destroyed,
    sessionObjectsLeftDetails: [...live.values()],
    mechanisms,
    failures,
    parsedCalls,
  };
}

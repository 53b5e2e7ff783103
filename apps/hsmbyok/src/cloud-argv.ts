/**
 * Command line of the cloud commands (`hsmbyok azure ...`, `hsmbyok aws ...`): words first, as az and aws
 * users type them, then `--name value` options. Parsed here, in the start-up bundle, so that a typo fails in
 * milliseconds without loading a cloud SDK; the values are checked for meaning by the command itself,
 * before it touches a file, the HSM or the cloud. The drop-in command line (argv.ts) is not involved.
 */
import { parseArgs } from 'node:util';
import { ByokError } from '@byok/core';
import type { PinSource } from './argv.js';

export type CloudGroup = 'azure' | 'aws';

export type CloudCommandName =
  | 'azure kek create'
  | 'azure kek download'
  | 'azure import'
  | 'azure verify'
  | 'azure byok'
  | 'aws prepare'
  | 'aws wrap'
  | 'aws import'
  | 'aws verify'
  | 'aws byok';

/** Options every cloud command of a group takes. */
const AZURE_COMMON = ['vault', 'ca-file', 'max-attempts', 'timeout'] as const;
const AWS_COMMON = ['region', 'endpoint', 'profile', 'ca-file', 'max-attempts', 'timeout'] as const;
const HSM = ['config', 'pin-env', 'pin-file'] as const;

interface CommandShape {
  readonly values: readonly string[];
  readonly switches: readonly string[];
}

/** Which options each command accepts: anything else is refused before anything happens. */
const SHAPES: Readonly<Record<CloudCommandName, CommandShape>> = {
  'azure kek create': { values: [...AZURE_COMMON, 'name', 'size'], switches: ['managed-hsm'] },
  'azure kek download': { values: [...AZURE_COMMON, 'name', 'file'], switches: ['managed-hsm'] },
  'azure import': {
    values: [...AZURE_COMMON, 'name', 'byok', 'kty', 'crv', 'ops', 'size'],
    switches: ['managed-hsm'],
  },
  'azure verify': { values: [...AZURE_COMMON, ...HSM, 'name'], switches: ['managed-hsm', 'pin-stdin'] },
  'azure byok': {
    values: [...AZURE_COMMON, ...HSM, 'name', 'kek-name', 'kek-size', 'ops'],
    switches: ['managed-hsm', 'pin-stdin', 'delete-kek', 'verbose'],
  },
  'aws prepare': {
    values: [
      ...AWS_COMMON,
      'config',
      'key-spec',
      'key-id',
      'ops',
      'wrapping-key-spec',
      'algorithm',
      'out-dir',
    ],
    switches: [],
  },
  'aws wrap': { values: [...HSM, 'parameters', 'out'], switches: ['pin-stdin', 'verbose'] },
  'aws import': {
    values: [...AWS_COMMON, 'key-id', 'material', 'token', 'parameters', 'expires'],
    switches: ['no-expiry'],
  },
  'aws verify': { values: [...AWS_COMMON, ...HSM, 'key-id', 'key-spec'], switches: ['pin-stdin'] },
  'aws byok': {
    values: [
      ...AWS_COMMON,
      ...HSM,
      'key-spec',
      'key-id',
      'ops',
      'wrapping-key-spec',
      'algorithm',
      'expires',
      'description',
    ],
    switches: ['pin-stdin', 'no-expiry', 'verbose'],
  },
};

export interface CloudArgv {
  readonly command: CloudCommandName;
  readonly values: ReadonlyMap<string, string>;
  readonly switches: ReadonlySet<string>;
  readonly pin: PinSource;
  readonly json: boolean;
}

export type ParsedCloudArgv =
  | { readonly kind: 'help'; readonly group: CloudGroup; readonly json: boolean }
  | { readonly kind: 'run'; readonly argv: CloudArgv };

function bad(message: string): ByokError {
  return new ByokError('CKR_ARGUMENTS_BAD', message);
}

export function isCloudArgv(argv: readonly string[]): boolean {
  const first = argv[0]?.toLowerCase();
  return first === 'azure' || first === 'aws';
}

const COMMAND_LIST: Readonly<Record<CloudGroup, string>> = {
  azure: 'kek create, kek download, import, verify, byok',
  aws: 'prepare, wrap, import, verify, byok',
};

/** Splits the leading words off (`azure kek create`), then parses the options the command accepts. */
export function parseCloudArgv(argv: readonly string[]): ParsedCloudArgv {
  const group = (argv[0]?.toLowerCase() ?? 'azure') as CloudGroup;
  const json = argv.some((a) => a.toLowerCase() === '--json');
  const words: string[] = [group];
  let rest = argv.slice(1);
  while (rest.length > 0 && !(rest[0] ?? '').startsWith('-') && words.length < 3) {
    words.push((rest[0] ?? '').toLowerCase());
    rest = rest.slice(1);
  }
  if (rest.some((a) => a === '--help' || a === '-h') || words.length === 1) {
    if (words.length === 1 && !rest.some((a) => a === '--help' || a === '-h')) {
      throw bad(`${group}: name a command (${COMMAND_LIST[group]}); see hsmbyok ${group} --help`);
    }
    return { kind: 'help', group, json };
  }
  const command = words.join(' ') as CloudCommandName;
  const shape = SHAPES[command];
  if (!shape) {
    throw bad(`unknown command '${words.join(' ')}'; ${group} commands: ${COMMAND_LIST[group]}`);
  }
  const options = {
    ...Object.fromEntries(shape.values.map((name) => [name, { type: 'string' as const }])),
    ...Object.fromEntries(shape.switches.map((name) => [name, { type: 'boolean' as const }])),
    json: { type: 'boolean' as const },
  };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: rest, options, strict: true, allowPositionals: false, tokens: true });
  } catch (error) {
    // util.parseArgs' messages name the option; keep the first sentence only.
    const message = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
    throw bad(`${command}: ${message.replace(/\. To specify.*$/, '')}`);
  }
  const values = new Map<string, string>();
  const switches = new Set<string>();
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== 'option') continue;
    if (typeof token.value === 'string') {
      if (token.value === '' || (!token.inlineValue && token.value.startsWith('--'))) {
        throw bad(`${command}: option --${token.name} needs a value`);
      }
      if (values.has(token.name)) throw bad(`${command}: option --${token.name} given more than once`);
      values.set(token.name, token.value);
    } else if (token.name !== 'json') {
      switches.add(token.name);
    }
  }
  const pins: PinSource[] = [];
  const pinEnv = values.get('pin-env');
  if (pinEnv !== undefined) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(pinEnv)) {
      throw bad(`--pin-env wants an environment variable name, not ${JSON.stringify(pinEnv)}`);
    }
    pins.push({ kind: 'env', name: pinEnv });
  }
  const pinFile = values.get('pin-file');
  if (pinFile !== undefined) pins.push({ kind: 'file', path: pinFile });
  if (switches.has('pin-stdin')) pins.push({ kind: 'stdin' });
  if (pins.length > 1) throw bad('choose one PIN source: --pin-env, --pin-file or --pin-stdin');
  return {
    kind: 'run',
    argv: { command, values, switches, pin: pins[0] ?? { kind: 'prompt' }, json },
  };
}

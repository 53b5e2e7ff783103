/**
 * Command line: the original's single option (`--generate-and-wrap-target-key`, case-insensitive) plus our
 * extensions. Everything is validated here, before any file or HSM is touched; the result is typed.
 */
import { ByokError } from '@byok/core';

export type CommandName = 'generate-and-wrap-target-key' | 'check' | 'help' | 'version';

/** Where the Crypto-Officer PIN comes from. Always explicit: there is no implicit PIN environment variable. */
export type PinSource =
  | { readonly kind: 'prompt' }
  | { readonly kind: 'env'; readonly name: string }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'stdin' };

export interface CliOptions {
  /** Paths as given; undefined means the original's fixed name in the current directory. */
  readonly config?: string;
  readonly kek?: string;
  readonly out?: string;
  readonly pin: PinSource;
  readonly json: boolean;
}

export type ParsedArgv =
  /** The original's `usage:` text and exit code 255; `problem` is printed first when there is one. */
  | { readonly kind: 'usage'; readonly problem?: string; readonly json: boolean }
  | { readonly kind: 'command'; readonly command: CommandName; readonly options: CliOptions };

/** Options that select what to do; exactly one per run. */
const COMMAND_FLAGS: Readonly<Record<string, CommandName>> = {
  'generate-and-wrap-target-key': 'generate-and-wrap-target-key',
  check: 'check',
  help: 'help',
  version: 'version',
};

/** Options that take a value (`--config FILE` or `--config=FILE`); every other option is a switch. */
export const VALUE_FLAGS = ['config', 'kek', 'out', 'pin-env', 'pin-file'] as const;
type ValueFlag = (typeof VALUE_FLAGS)[number];
export const SWITCH_FLAGS = ['pin-stdin', 'json'] as const;
/** The one short option. None takes a value. */
export const SHORT_FLAGS: Readonly<Record<string, string>> = { h: 'help' };

/** One argument as util.parseArgs({ strict: false, tokens: true }) reports it. */
export type ArgvToken =
  | {
      readonly kind: 'option';
      readonly name: string;
      readonly rawName: string;
      readonly index: number;
      readonly value: string | undefined;
      readonly inlineValue: boolean | undefined;
    }
  | { readonly kind: 'positional'; readonly index: number; readonly value: string }
  | { readonly kind: 'option-terminator'; readonly index: number };

/**
 * util.parseArgs's tokens (strict: false, positionals allowed) for our options, computed here: loading
 * node:util's parser costs more at start-up than the whole command line takes to read (bench/hsmbyok.mjs).
 * test/argv.test.ts checks it token for token against util.parseArgs on thousands of command lines.
 * - `--` ends the options: everything after it is positional;
 * - `--name=value` has an inline value; `--name` of a value option takes the next argument, whatever it is;
 * - `-h` is --help; `-abc` is the group `-a -b -c`, each token with the group's index;
 * - anything else (`word`, `-`) is positional.
 */
export function tokenizeArgv(args: readonly string[]): ArgvToken[] {
  const tokens: ArgvToken[] = [];
  const remaining = [...args];
  let index = -1;
  let grouped = 0;
  const option = (name: string, rawName: string, value?: string, inlineValue?: boolean): void => {
    tokens.push({ kind: 'option', name, rawName, index, value, inlineValue });
  };
  while (remaining.length > 0) {
    const arg = remaining.shift() as string;
    const next = remaining[0];
    if (grouped > 0) grouped -= 1;
    else index += 1;
    if (arg === '--') {
      tokens.push({ kind: 'option-terminator', index });
      for (const value of remaining) tokens.push({ kind: 'positional', index: ++index, value });
      break;
    }
    if (arg.length >= 2 && arg[0] === '-' && arg[1] !== '-') {
      if (arg.length > 2) {
        // No short option takes a value, so a group is always one switch per letter.
        const letters: string[] = [];
        for (let i = 1; i < arg.length; i += 1) letters.push(`-${arg.charAt(i)}`);
        remaining.unshift(...letters);
        grouped = letters.length;
        continue;
      }
      option(SHORT_FLAGS[arg.charAt(1)] ?? arg.charAt(1), arg);
      continue;
    }
    if (arg.length > 2 && arg.startsWith('--')) {
      if (arg.includes('=', 3)) {
        const eq = arg.indexOf('=');
        const name = arg.slice(2, eq);
        option(name, `--${name}`, arg.slice(eq + 1), true);
        continue;
      }
      const name = arg.slice(2);
      if (isValueFlag(name) && next !== undefined) {
        remaining.shift();
        option(name, arg, next, false);
        index += 1;
      } else {
        option(name, arg);
      }
      continue;
    }
    tokens.push({ kind: 'positional', index, value: arg });
  }
  return tokens;
}

function isValueFlag(name: string): name is ValueFlag {
  return (VALUE_FLAGS as readonly string[]).includes(name);
}

function isKnown(name: string): boolean {
  return name in COMMAND_FLAGS || isValueFlag(name) || (SWITCH_FLAGS as readonly string[]).includes(name);
}

function unrecognized(option: string): ByokError {
  // The original's words, so `grep 'unrecognized option'` keeps working; its code was CKR_INVALID_COMMAND.
  return new ByokError('CKR_INVALID_COMMAND', `unrecognized option: ${option}`);
}

function badArgument(message: string): ByokError {
  return new ByokError('CKR_ARGUMENTS_BAD', message);
}

/**
 * Long option names are case-insensitive like the original's strcasecmp (`--Generate-And-Wrap-Target-Key`);
 * values never are. A value given as the next argument is left alone.
 */
function normaliseCase(argv: readonly string[]): string[] {
  const out: string[] = [];
  let valueNext = false;
  let terminated = false;
  for (const arg of argv) {
    if (terminated || valueNext || !arg.startsWith('--') || arg === '--') {
      out.push(arg);
      valueNext = false;
      if (arg === '--' && !terminated) terminated = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = (eq < 0 ? arg.slice(2) : arg.slice(2, eq)).toLowerCase();
    out.push(eq < 0 ? `--${name}` : `--${name}${arg.slice(eq)}`);
    valueNext = eq < 0 && isValueFlag(name);
  }
  return out;
}

/** Throws ByokError for a bad argument (one line, exit 1); returns `usage` where the original printed it. */
export function parseArgv(argv: readonly string[]): ParsedArgv {
  const wantsJson = argv.some((a) => a.toLowerCase() === '--json');
  // The original: anything but exactly one argument prints the usage and exits 255.
  if (argv.length === 0) return { kind: 'usage', json: wantsJson };

  const tokens = tokenizeArgv(normaliseCase(argv));

  const commands: CommandName[] = [];
  const values = new Map<ValueFlag, string>();
  const switches = new Set<string>();
  const positionals: string[] = [];

  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') {
      positionals.push(token.value);
      continue;
    }
    const { name, rawName } = token;
    if (!isKnown(name)) throw unrecognized(argv[token.index] ?? rawName);
    if (isValueFlag(name)) {
      const value = token.value;
      if (value === undefined || value === '') throw badArgument(`option --${name} needs a value`);
      if (!token.inlineValue && value.startsWith('--')) {
        throw badArgument(
          `option --${name} needs a value, found option ${value} (write --${name}=${value} if meant)`,
        );
      }
      if (values.has(name)) throw badArgument(`option --${name} given more than once`);
      values.set(name, value);
      continue;
    }
    if (token.value !== undefined) throw badArgument(`option ${rawName} takes no value`);
    const command = COMMAND_FLAGS[name];
    if (command) {
      if (!commands.includes(command)) commands.push(command);
    } else {
      switches.add(name);
    }
  }

  if (positionals.length > 0) {
    // A lone word is what the original called an unrecognized option (`hsmbyok foo`); more than one
    // argument with a stray word is its wrong argument count. Room here for future `hsmbyok azure ...`.
    if (argv.length === 1) throw unrecognized(positionals[0] ?? '');
    return { kind: 'usage', problem: `unexpected argument: ${positionals[0]}`, json: wantsJson };
  }

  // --help and --version win over everything else, so they work whatever else was typed.
  const command: CommandName | undefined = commands.includes('help')
    ? 'help'
    : commands.includes('version')
      ? 'version'
      : commands[0];
  if (command === undefined)
    return { kind: 'usage', problem: 'no option selects what to do', json: wantsJson };
  if (commands.length > 1 && command !== 'help' && command !== 'version') {
    throw badArgument(`choose one of ${commands.map((c) => `--${c}`).join(', ')}`);
  }

  const pinSources: PinSource[] = [];
  const pinEnv = values.get('pin-env');
  const pinFile = values.get('pin-file');
  if (pinEnv !== undefined) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(pinEnv)) {
      throw badArgument(`--pin-env wants an environment variable name, not ${JSON.stringify(pinEnv)}`);
    }
    pinSources.push({ kind: 'env', name: pinEnv });
  }
  if (pinFile !== undefined) pinSources.push({ kind: 'file', path: pinFile });
  if (switches.has('pin-stdin')) pinSources.push({ kind: 'stdin' });
  if (pinSources.length > 1) throw badArgument('choose one PIN source: --pin-env, --pin-file or --pin-stdin');

  const options: CliOptions = {
    config: values.get('config'),
    kek: values.get('kek'),
    out: values.get('out'),
    pin: pinSources[0] ?? { kind: 'prompt' },
    json: switches.has('json'),
  };
  return { kind: 'command', command, options };
}

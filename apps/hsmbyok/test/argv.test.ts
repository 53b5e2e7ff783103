/**
 * tokenizeArgv against util.parseArgs, the parser it stands in for: the same tokens for every command line,
 * hand-picked edge cases first, then thousands of random ones drawn from what custodians and typos produce.
 */
import { parseArgs } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SHORT_FLAGS, SWITCH_FLAGS, tokenizeArgv, VALUE_FLAGS } from '../src/argv.js';

const COMMANDS = ['generate-and-wrap-target-key', 'check', 'help', 'version'];

const OPTIONS: Record<string, { type: 'boolean' | 'string'; short?: string }> = {};
for (const name of [...COMMANDS, ...SWITCH_FLAGS]) OPTIONS[name] = { type: 'boolean' };
for (const name of VALUE_FLAGS) OPTIONS[name] = { type: 'string' };
for (const [short, name] of Object.entries(SHORT_FLAGS)) OPTIONS[name] = { type: 'boolean', short };

function reference(args: string[]): unknown {
  return parseArgs({ args, options: OPTIONS, strict: false, allowPositionals: true, tokens: true }).tokens;
}

/** A small deterministic generator (mulberry32): the same lines on every run, any failure reproducible. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = [...COMMANDS, ...SWITCH_FLAGS, ...VALUE_FLAGS, 'nope', 'Config', 'h', ''];
const WORDS = [
  '',
  '-',
  '--',
  '---',
  '-h',
  '-hv',
  '-x',
  '-1',
  '-=',
  '-h=x',
  'word',
  'A.ini',
  '=',
  'é',
  '-😀',
  '--=',
];

function argument(next: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
  switch (Math.floor(next() * 4)) {
    case 0:
      return `--${pick(NAMES)}`;
    case 1:
      return `--${pick(NAMES)}=${pick(WORDS)}`;
    case 2:
      return `-${pick(['h', 'x', 'hx', 'hhh', 'c', '-', '=', 'h=', 'é'])}`;
    default:
      return pick(WORDS);
  }
}

describe('tokenizeArgv', () => {
  it('matches util.parseArgs on the edge cases', () => {
    const cases = [
      [],
      ['--generate-and-wrap-target-key'],
      ['--config', 'a.ini', '--kek=k.pem', '--out', '--json'],
      ['--config'],
      ['--config', '--'],
      ['--check', '--', '--json', 'x'],
      ['--', '--'],
      ['-h'],
      ['-hx', '-h', 'word'],
      ['-'],
      ['---'],
      ['--=x'],
      ['--=a=b'],
      ['--a=b=c'],
      ['--pin-env=', '--pin-file', ''],
      ['-😀'],
      ['--json=false', '--help=1'],
    ];
    for (const args of cases) expect(tokenizeArgv(args), JSON.stringify(args)).toEqual(reference(args));
  });

  it('matches util.parseArgs on 5,000 random command lines', () => {
    const next = random(20261124);
    for (let i = 0; i < 5000; i++) {
      const args = Array.from({ length: Math.floor(next() * 6) }, () => argument(next));
      expect(tokenizeArgv(args), JSON.stringify(args)).toEqual(reference(args));
    }
  });
});

/** `--name value` (repeatable), `--flag`, and positionals: the one argument parser of the CLI. */
export class UsageError extends Error {}

export interface Args {
  readonly positionals: readonly string[];
  readonly options: ReadonlyMap<string, readonly string[]>;
}

const FLAGS = new Set(['wait']);

export function parseArgs(argv: readonly string[]): Args {
  const positionals: string[] = [];
  const options = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    let value: string;
    if (eq > 0) value = a.slice(eq + 1);
    else if (FLAGS.has(name)) value = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`--${name} needs a value`);
      value = next;
      i++;
    }
    options.set(name, [...(options.get(name) ?? []), value]);
  }
  return { positionals, options };
}

export function option(args: Args, name: string): string | undefined {
  return args.options.get(name)?.at(-1);
}

export function required(args: Args, name: string): string {
  const v = option(args, name);
  if (v === undefined) throw new UsageError(`--${name} is required`);
  return v;
}

export function positional(args: Args, index: number, what: string): string {
  const v = args.positionals[index];
  if (v === undefined) throw new UsageError(`missing ${what}`);
  return v;
}

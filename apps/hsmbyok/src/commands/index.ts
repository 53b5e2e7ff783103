/**
 * The command table. Each command is a module loaded only when chosen, so `--help` and `--version` never
 * load PKCS#11 (pkcs11js, koffi). Future subcommands (`hsmbyok azure ...`, `hsmbyok aws ...`) register here.
 */
import type { CommandName } from '../argv.js';
import type { Command } from '../context.js';

export interface CommandEntry {
  /** Print the original's copyright and version lines first (the HSM commands do, like the original). */
  readonly banner: boolean;
  readonly load: () => Promise<Command>;
}

export const COMMANDS: Readonly<Record<CommandName, CommandEntry>> = {
  'generate-and-wrap-target-key': {
    banner: true,
    load: async () => (await import('./generate-and-wrap.js')).generateAndWrapTargetKey,
  },
  check: { banner: true, load: async () => (await import('./check.js')).check },
  help: { banner: false, load: async () => (await import('./help.js')).help },
  version: { banner: false, load: async () => (await import('./version.js')).version },
};

/** For tests and embedding: run the CLI in-process against injected io. The binary is bin/hsmbyok.cjs. */
export { type CliOptions, type CommandName, type ParsedArgv, type PinSource, parseArgv } from './argv.js';
export { PendingFile } from './atomic-file.js';
export { EXIT_FAILURE, EXIT_SUCCESS, EXIT_USAGE, main, processIo, runCli } from './cli.js';
export type { CliIo, Command, CommandContext, CommandOutcome } from './context.js';
export { PIN_PROMPT } from './terminal.js';

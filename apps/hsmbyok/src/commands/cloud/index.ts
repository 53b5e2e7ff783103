/**
 * The cloud commands' table. This module and everything it imports (the Azure and AWS SDKs) is built into its
 * own bundle (dist/cloud.cjs) and loaded only when `hsmbyok azure ...` / `hsmbyok aws ...` runs, so the
 * drop-in command and --help/--version start as fast as before.
 */
import type { CloudArgv, CloudCommandName } from '../../cloud-argv.js';
import type { CommandOutcome } from '../../context.js';
import type { CloudCommand, CloudContext } from './context.js';

const COMMANDS: Readonly<Record<CloudCommandName, () => Promise<CloudCommand>>> = {
  'azure kek create': async () => (await import('./azure.js')).kekCreate,
  'azure kek download': async () => (await import('./azure.js')).kekDownload,
  'azure import': async () => (await import('./azure.js')).importByok,
  'azure verify': async () => (await import('./azure.js')).verify,
  'azure byok': async () => (await import('./azure.js')).byok,
  'aws prepare': async () => (await import('./aws.js')).prepare,
  'aws wrap': async () => (await import('./aws.js')).wrap,
  'aws import': async () => (await import('./aws.js')).importMaterial,
  'aws verify': async () => (await import('./aws.js')).verify,
  'aws byok': async () => (await import('./aws.js')).byok,
};

export async function runCloudCommand(
  argv: CloudArgv,
  ctx: Omit<CloudContext, 'argv'>,
): Promise<CommandOutcome> {
  const command = await COMMANDS[argv.command]();
  return command({ ...ctx, argv });
}

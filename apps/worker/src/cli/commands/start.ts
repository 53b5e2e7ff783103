/** Validates the definition file completely, then starts the ceremony workflow (id = the ceremony id). */
import { readFileSync } from 'node:fs';
import { ceremonyDigest, parseCeremonyDefinition } from '@byok/core/ceremony';
import { CEREMONY_WORKFLOW_TYPE, type CeremonyInput } from '../../messages.js';
import { type Args, positional } from '../args.js';
import { withClient } from '../client.js';
import type { CommandResult } from '../main.js';

export async function start(args: Args): Promise<CommandResult> {
  const file = positional(args, 0, 'the definition file');
  const definition = parseCeremonyDefinition(readFileSync(file, 'utf8'), { now: Date.now() });
  const digest = ceremonyDigest(definition);
  const admins = args.options.get('admin') ?? [];
  const input: CeremonyInput = { definition, expectedDigest: digest, ...(admins.length ? { admins } : {}) };
  return withClient(async (client, config) => {
    const handle = await client.workflow.start(CEREMONY_WORKFLOW_TYPE, {
      workflowId: definition.ceremonyId,
      taskQueue: config.temporal.taskQueue,
      args: [input],
      // One workflow per ceremony id, ever: a finished ceremony is never started again under its id.
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
    });
    return {
      data: { ceremonyId: definition.ceremonyId, digest, runId: handle.firstExecutionRunId },
      text: `started ceremony ${definition.ceremonyId}\ndigest ${digest}\napprovers sign this digest: ceremony approve ${definition.ceremonyId} --approver <id> --key <file>`,
    };
  });
}

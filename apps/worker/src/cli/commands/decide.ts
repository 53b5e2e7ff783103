/**
 * approve / reject: reads the digest from the running ceremony (progress query), signs it with the approver's
 * key file, and sends the Update. The workflow's validator re-checks everything; a refusal is one line.
 */
import { readFileSync } from 'node:fs';
import { createApproval, type Decision } from '@byok/core/ceremony';
import { approveUpdate, progressQuery, rejectUpdate } from '../../messages.js';
import { type Args, option, positional, required } from '../args.js';
import { ceremonyHandle, withClient } from '../client.js';
import type { CommandResult } from '../main.js';

async function decide(args: Args, decision: Decision): Promise<CommandResult> {
  const id = positional(args, 0, 'the ceremony id');
  const approverId = required(args, 'approver');
  const privateKey = readFileSync(required(args, 'key'), 'utf8');
  const comment = option(args, 'comment');
  return withClient(async (client) => {
    const handle = ceremonyHandle(client, id);
    const { digest } = await handle.query(progressQuery);
    const approval = createApproval({
      approverId,
      decision,
      digest,
      privateKey,
      ...(comment === undefined ? {} : { comment }),
    });
    const receipt = await handle.executeUpdate(decision === 'approve' ? approveUpdate : rejectUpdate, {
      args: [approval],
    });
    const q = receipt.quorum;
    const quorum = 'approvals' in q && 'required' in q ? `${q.approvals}/${q.required} ${q.kind}` : q.kind;
    return {
      data: receipt,
      text: `${approverId} ${decision}d ceremony ${id} (digest ${digest.slice(0, 16)}…); quorum ${quorum}`,
    };
  });
}

export const approve = (args: Args): Promise<CommandResult> => decide(args, 'approve');
export const reject = (args: Args): Promise<CommandResult> => decide(args, 'reject');

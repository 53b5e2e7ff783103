/** Cancels a ceremony (requester or an admin named at its start); the workflow unwinds what it did. */
import { cancelUpdate } from '../../messages.js';
import { type Args, positional, required } from '../args.js';
import { ceremonyHandle, withClient } from '../client.js';
import type { CommandResult } from '../main.js';

export async function cancel(args: Args): Promise<CommandResult> {
  const id = positional(args, 0, 'the ceremony id');
  const actor = required(args, 'as');
  const reason = required(args, 'reason');
  return withClient(async (client) => {
    const status = await ceremonyHandle(client, id).executeUpdate(cancelUpdate, {
      args: [{ actor, reason }],
    });
    return { data: { ceremonyId: id, status }, text: `ceremony ${id}: cancel accepted (was ${status})` };
  });
}

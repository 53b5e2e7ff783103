/** The ceremony's progress as a table: status, quorum, decisions, steps, deadlines. */
import { type CeremonyProgress, progressQuery } from '../../messages.js';
import { type Args, option, positional } from '../args.js';
import { ceremonyHandle, withClient } from '../client.js';
import type { CommandResult } from '../main.js';

const ENDED = new Set(['completed', 'rejected', 'expired', 'cancelled', 'failed']);

export function progressTable(p: CeremonyProgress): string {
  const q = p.quorum;
  const rows: [string, string][] = [
    ['ceremony', p.ceremonyId],
    ['status', p.status],
    ['digest', p.digest],
    ['quorum', 'approvals' in q && 'required' in q ? `${q.approvals} of ${q.required} (${q.kind})` : q.kind],
    ...p.decisions.map((d): [string, string] => [`  ${d.approverId}`, `${d.decision} at ${d.at}`]),
    ['approvals close', p.approvalWindowClosesAt],
    ['deadline', p.deadlineAt],
    ['steps done', p.completedSteps.join(' -> ') || '-'],
    ['cloud key', p.cloudKeyId ?? '-'],
    ['audit', `${p.auditLength} events, head ${p.auditHead.slice(0, 16)}…`],
    ...(p.error ? [['error', `${p.error.type}: ${p.error.message}`] as [string, string]] : []),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

export async function status(args: Args): Promise<CommandResult> {
  const id = positional(args, 0, 'the ceremony id');
  const wait = option(args, 'wait') === 'true';
  return withClient(async (client) => {
    const handle = ceremonyHandle(client, id);
    let progress = await handle.query(progressQuery);
    while (wait && !ENDED.has(progress.status)) {
      await new Promise((r) => setTimeout(r, 1000));
      progress = await handle.query(progressQuery);
    }
    return { data: progress, text: progressTable(progress) };
  });
}

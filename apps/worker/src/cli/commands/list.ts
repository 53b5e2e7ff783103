/** Ceremonies by search attribute (CeremonyStatus, CeremonyCloud, CeremonyKeyName, CeremonyRequester). */
import { CEREMONY_WORKFLOW_TYPE, SEARCH_ATTRIBUTES } from '../../messages.js';
import { type Args, option } from '../args.js';
import { withClient } from '../client.js';
import type { CommandResult } from '../main.js';

/** Visibility query values are quoted; a quote inside a value would end the string, so it is refused. */
function quoted(value: string): string {
  if (/['"\\]/.test(value)) throw new Error(`filter value ${JSON.stringify(value)} may not contain quotes`);
  return `'${value}'`;
}

export async function list(args: Args): Promise<CommandResult> {
  const clauses = [`WorkflowType = '${CEREMONY_WORKFLOW_TYPE}'`];
  const filters: [string, string][] = [
    ['status', SEARCH_ATTRIBUTES.status.name],
    ['cloud', SEARCH_ATTRIBUTES.cloud.name],
    ['key-name', SEARCH_ATTRIBUTES.keyName.name],
    ['requester', SEARCH_ATTRIBUTES.requester.name],
  ];
  for (const [flag, attribute] of filters) {
    const v = option(args, flag);
    if (v !== undefined) clauses.push(`${attribute} = ${quoted(v)}`);
  }
  const raw = option(args, 'query');
  if (raw) clauses.push(`(${raw})`);
  const query = clauses.join(' AND ');
  return withClient(async (client) => {
    const rows: {
      id: string;
      status: string;
      cloud: string;
      keyName: string;
      requester: string;
      started: string;
    }[] = [];
    for await (const wf of client.workflow.list({ query })) {
      const sa = wf.typedSearchAttributes;
      rows.push({
        id: wf.workflowId,
        status: sa.get(SEARCH_ATTRIBUTES.status) ?? wf.status.name,
        cloud: sa.get(SEARCH_ATTRIBUTES.cloud) ?? '',
        keyName: sa.get(SEARCH_ATTRIBUTES.keyName) ?? '',
        requester: sa.get(SEARCH_ATTRIBUTES.requester) ?? '',
        started: wf.startTime.toISOString(),
      });
    }
    const header = ['ceremony', 'status', 'cloud', 'key', 'requester', 'started'];
    const table = [header, ...rows.map((r) => [r.id, r.status, r.cloud, r.keyName, r.requester, r.started])];
    const widths = header.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length)));
    const text = table.map((row) => row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')).join('\n');
    return { data: { query, ceremonies: rows }, text: rows.length ? text : `no ceremonies match ${query}` };
  });
}

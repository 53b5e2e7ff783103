/**
 * The ceremony's audit record, verified: JSON export + readable report. From the workflow (audit query),
 * re-checked here with core's importAuditJson (hash chain); `--out` writes both files with O_EXCL.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportAuditJson, importAuditJson, renderAuditReport } from '@byok/core/ceremony';
import { auditQuery, progressQuery } from '../../messages.js';
import { type Args, option, positional } from '../args.js';
import { ceremonyHandle, withClient } from '../client.js';
import type { CommandResult } from '../main.js';

export async function evidence(args: Args): Promise<CommandResult> {
  const id = positional(args, 0, 'the ceremony id');
  const out = option(args, 'out');
  return withClient(async (client) => {
    const handle = ceremonyHandle(client, id);
    const chain = await handle.query(auditQuery);
    const progress = await handle.query(progressQuery);
    const json = exportAuditJson(id, chain);
    const checked = importAuditJson(json); // throws when the chain does not hold
    const report = renderAuditReport(id, chain);
    const files: string[] = [];
    if (out) {
      for (const [name, content] of [
        [`${id}.audit.json`, json],
        [`${id}.audit.md`, report],
      ] as const) {
        writeFileSync(join(out, name), content, { flag: 'wx', mode: 0o640 });
        files.push(join(out, name));
      }
    }
    const summary = [
      `ceremony ${id}: ${progress.status}`,
      `audit chain: ${checked.events.length} events, verified, head ${progress.auditHead}`,
      ...(progress.cloudKeyId ? [`cloud key: ${progress.cloudKeyId}`] : []),
      ...files.map((f) => `wrote ${f}`),
    ];
    return {
      data: { ceremonyId: id, status: progress.status, audit: JSON.parse(json) as unknown, files },
      text: out ? summary.join('\n') : `${report}\n${summary.join('\n')}`,
    };
  });
}

/**
 * Evidence activity: writes the exported audit record (JSON) and its report (Markdown) under the worker's
 * evidence folder, one folder per ceremony. Files are created with O_EXCL (`wx`): evidence is never
 * overwritten. A retry that finds identical files accepts them (idempotent); different content is refused.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { importAuditJson } from '@byok/core/ceremony';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkerConfig } from '../config.js';
import type { EvidenceActivities, EvidenceFiles, EvidenceInput } from './types.js';

async function writeOnce(path: string, content: string): Promise<void> {
  try {
    await writeFile(path, content, { flag: 'wx', mode: 0o640 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    if ((await readFile(path, 'utf8')) !== content) {
      throw ApplicationFailure.nonRetryable(
        `${path} already exists with other content; evidence is never overwritten`,
        'EVIDENCE_EXISTS',
      );
    }
  }
}

export function createEvidenceActivities(config: WorkerConfig): EvidenceActivities {
  return {
    async writeEvidence(input: EvidenceInput): Promise<EvidenceFiles> {
      // Verified before writing: what lands on disk is a chain that holds.
      const exported = importAuditJson(input.auditJson);
      if (exported.ceremonyId !== input.ceremonyId) {
        throw ApplicationFailure.nonRetryable('audit record belongs to another ceremony', 'AUDIT_INVALID');
      }
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{2,99}$/.test(input.ceremonyId)) {
        throw ApplicationFailure.nonRetryable('ceremony id is not a safe folder name', 'AUDIT_INVALID');
      }
      const dir = join(config.evidenceDir, input.ceremonyId);
      await mkdir(dir, { recursive: true, mode: 0o750 });
      const jsonPath = join(dir, 'audit.json');
      const reportPath = join(dir, 'audit.md');
      await writeOnce(jsonPath, input.auditJson);
      await writeOnce(reportPath, input.auditReport);
      return { jsonPath, reportPath };
    },
  };
}

/**
 * The ceremony's evidence: an append-only, hash-chained record. Each event's hash covers its own fields and
 * the previous event's hash, so removing, reordering or editing any event breaks every hash after it.
 * Pure and deterministic (the workflow keeps the chain in its state, with workflow time), exported as JSON
 * for machines and as a Markdown report for auditors.
 *
 * What goes in `data`: digests, key ids, labels, fingerprints, cloud key URLs, decisions. What never does:
 * PINs, passwords, private keys, key material (refused by field name, by PEM marker and by size).
 */
import { ByokError } from '../errors.js';
import { canonicalJson, type JsonValue } from './canonical.js';
import { sha256Hex } from './digest.js';

export const AUDIT_EVENT_DOMAIN = 'byok-audit-event/v1';
/** `prevHash` of the first event. */
export const GENESIS_HASH = '0'.repeat(64);

export type AuditData = { readonly [key: string]: JsonValue };

export interface AuditEvent {
  /** 0 for the first event, then +1: a gap is a removed event. */
  readonly seq: number;
  /** ISO-8601 UTC (workflow time inside the workflow). */
  readonly time: string;
  /** Who caused it: `requester:bob`, `approver:alice`, `worker`, `operator:carol`. */
  readonly actor: string;
  /** Dotted event name: `ceremony.requested`, `approval.accepted`, `hsm.key-wrapped`, ... */
  readonly type: string;
  readonly data: AuditData;
  readonly prevHash: string;
  /** SHA-256 (hex) of the canonical JSON of every field above, under AUDIT_EVENT_DOMAIN. */
  readonly hash: string;
}

export type AuditChain = readonly AuditEvent[];

export interface NewAuditEvent {
  /** Epoch milliseconds. */
  readonly time: number;
  readonly actor: string;
  readonly type: string;
  readonly data?: AuditData;
}

export type ChainVerdict =
  | { readonly ok: true; readonly length: number; readonly head: string }
  | { readonly ok: false; readonly seq: number; readonly reason: string };

const FORBIDDEN_KEY =
  /^(pin|.*[-_]?pin|pins|password|passphrase|passwd|secret|private-?key|key-?material|plaintext)$/i;
/** Longer strings are refused: digests and ids are short, a blob of this size is key material or a file. */
const MAX_STRING = 2048;

/** The hash an event must carry. */
export function auditEventHash(event: Omit<AuditEvent, 'hash'>): string {
  const { seq, time, actor, type, data, prevHash } = event;
  return sha256Hex(canonicalJson({ domain: AUDIT_EVENT_DOMAIN, seq, time, actor, type, data, prevHash }));
}

/** The chain with one more event; the input is not modified. Throws ByokError('AUDIT_INVALID') on bad input. */
export function appendEvent(chain: AuditChain, event: NewAuditEvent): AuditChain {
  if (!Number.isFinite(event.time))
    throw new ByokError('AUDIT_INVALID', 'audit event time must be epoch milliseconds');
  if (!/^[a-z][a-z0-9-]*(\.[a-z0-9-]+)*$/.test(event.type)) {
    throw new ByokError(
      'AUDIT_INVALID',
      `audit event type ${JSON.stringify(event.type)} must be dotted lower-case words`,
    );
  }
  if (event.actor.trim().length === 0)
    throw new ByokError('AUDIT_INVALID', 'audit event actor must not be empty');
  const data = event.data ?? {};
  refuseSecrets(data, 'data');
  const previous = chain[chain.length - 1];
  const time = new Date(event.time).toISOString();
  if (previous && time < previous.time) {
    throw new ByokError(
      'AUDIT_INVALID',
      `audit event time ${time} is before the previous event (${previous.time})`,
    );
  }
  const body = {
    seq: chain.length,
    time,
    actor: event.actor,
    type: event.type,
    data,
    prevHash: previous?.hash ?? GENESIS_HASH,
  };
  return [...chain, { ...body, hash: auditEventHash(body) }];
}

/** Hash of the last event: one value that commits to the whole record. */
export function auditHead(chain: AuditChain): string {
  return chain[chain.length - 1]?.hash ?? GENESIS_HASH;
}

/** Recomputes every link. Reports the first broken event and why. */
export function verifyChain(chain: readonly unknown[]): ChainVerdict {
  let prevHash = GENESIS_HASH;
  let prevTime = '';
  for (let i = 0; i < chain.length; i++) {
    const e = chain[i] as Partial<AuditEvent> | undefined;
    const bad = (reason: string): ChainVerdict => ({ ok: false, seq: i, reason: `event ${i}: ${reason}` });
    if (
      typeof e !== 'object' ||
      e === null ||
      typeof e.time !== 'string' ||
      typeof e.actor !== 'string' ||
      typeof e.type !== 'string' ||
      typeof e.data !== 'object' ||
      typeof e.hash !== 'string'
    ) {
      return bad('is not a complete audit event');
    }
    if (e.seq !== i) return bad(`seq is ${String(e.seq)} (events removed or reordered)`);
    if (e.prevHash !== prevHash)
      return bad('prevHash does not match the previous event (events removed, inserted or edited)');
    if (e.time < prevTime) return bad(`time ${e.time} goes back before ${prevTime}`);
    let expected: string;
    try {
      expected = auditEventHash({
        seq: e.seq,
        time: e.time,
        actor: e.actor,
        type: e.type,
        data: e.data as AuditData,
        prevHash,
      });
    } catch {
      return bad('data is not plain JSON');
    }
    if (expected !== e.hash) return bad('hash does not match its content (the event was edited)');
    prevHash = e.hash;
    prevTime = e.time;
  }
  return { ok: true, length: chain.length, head: prevHash };
}

export interface AuditExport {
  readonly format: 'byok-audit/v1';
  readonly ceremonyId: string;
  readonly head: string;
  readonly events: AuditChain;
}

/** The machine-readable evidence: 2-space JSON with the head hash, ending in a newline. */
export function exportAuditJson(ceremonyId: string, chain: AuditChain): string {
  const doc: AuditExport = { format: 'byok-audit/v1', ceremonyId, head: auditHead(chain), events: chain };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** Reads an export back; the chain is verified, so a tampered file is refused. */
export function importAuditJson(text: string): AuditExport {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ByokError('AUDIT_INVALID', 'audit export is not JSON');
  }
  const d = doc as Partial<AuditExport>;
  if (d?.format !== 'byok-audit/v1' || typeof d.ceremonyId !== 'string' || !Array.isArray(d.events)) {
    throw new ByokError('AUDIT_INVALID', 'not a byok-audit/v1 export');
  }
  const verdict = verifyChain(d.events);
  if (!verdict.ok)
    throw new ByokError('AUDIT_TAMPERED', `audit record of ${d.ceremonyId} is broken: ${verdict.reason}`);
  if (verdict.head !== d.head)
    throw new ByokError('AUDIT_TAMPERED', `audit record of ${d.ceremonyId}: head does not match the events`);
  return d as AuditExport;
}

/** The human-readable evidence: a Markdown report an auditor can read and check against the JSON. */
export function renderAuditReport(ceremonyId: string, chain: AuditChain): string {
  const verdict = verifyChain(chain);
  const lines = [
    `# Ceremony ${ceremonyId}: audit record`,
    '',
    verdict.ok
      ? `Chain verified: ${verdict.length} events, head \`${verdict.head}\`.`
      : `**CHAIN BROKEN** at ${verdict.reason}. Do not rely on this record.`,
    '',
    '| # | time (UTC) | actor | event | details | hash |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const e of chain) {
    const details = Object.keys(e.data)
      .sort()
      .map((k) => `${k}: ${typeof e.data[k] === 'string' ? e.data[k] : JSON.stringify(e.data[k])}`)
      .join('<br>');
    lines.push(
      `| ${e.seq} | ${e.time} | ${cell(e.actor)} | ${cell(e.type)} | ${cell(details)} | \`${e.hash.slice(0, 16)}\` |`,
    );
  }
  lines.push(
    '',
    `Verify: every hash is SHA-256 of the canonical JSON of {domain: "${AUDIT_EVENT_DOMAIN}", seq, time,`,
  );
  lines.push(
    'actor, type, data, prevHash} (keys sorted, no white space); the first prevHash is 64 zeros.',
    '',
  );
  return lines.join('\n');
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function refuseSecrets(value: JsonValue, path: string): void {
  if (typeof value === 'string') {
    if (value.length > MAX_STRING) {
      throw new ByokError(
        'AUDIT_INVALID',
        `${path}: ${value.length} characters is too long for evidence (key material?)`,
      );
    }
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value)) {
      throw new ByokError('AUDIT_SECRET', `${path}: a private key never goes in the audit record`);
    }
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  for (const [k, v] of Object.entries(value)) {
    if (!Array.isArray(value) && FORBIDDEN_KEY.test(k)) {
      throw new ByokError(
        'AUDIT_SECRET',
        `${path}.${k}: PINs, passwords and key material never go in the audit record`,
      );
    }
    refuseSecrets(v, Array.isArray(value) ? `${path}[${k}]` : `${path}.${k}`);
  }
}

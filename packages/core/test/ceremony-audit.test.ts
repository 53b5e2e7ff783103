import { describe, expect, it } from 'vitest';
import {
  type AuditChain,
  type AuditEvent,
  appendEvent,
  auditHead,
  exportAuditJson,
  GENESIS_HASH,
  importAuditJson,
  renderAuditReport,
  verifyChain,
} from '../src/ceremony/audit.js';
import { ByokError } from '../src/errors.js';

const T0 = Date.parse('2025-11-01T09:00:00Z');

function sample(): AuditChain {
  let chain: AuditChain = [];
  chain = appendEvent(chain, {
    time: T0,
    actor: 'requester:dave',
    type: 'ceremony.requested',
    data: { digest: 'ab'.repeat(32) },
  });
  chain = appendEvent(chain, {
    time: T0 + 1000,
    actor: 'approver:alice',
    type: 'approval.accepted',
    data: { decision: 'approve' },
  });
  chain = appendEvent(chain, {
    time: T0 + 2000,
    actor: 'approver:bob',
    type: 'approval.accepted',
    data: { decision: 'approve' },
  });
  chain = appendEvent(chain, {
    time: T0 + 3000,
    actor: 'worker',
    type: 'hsm.key-wrapped',
    data: { keyLabel: 'k1', spkiSha256: 'cd'.repeat(32), wrap: { method: 'two-step', oaepHash: 'sha1' } },
  });
  return chain;
}

function broken(chain: readonly unknown[]): string {
  const v = verifyChain(chain);
  if (v.ok) throw new Error('tampering went unnoticed');
  return v.reason;
}

describe('audit chain', () => {
  it('links every event to the previous one and verifies', () => {
    const chain = sample();
    expect(chain.map((e) => e.seq)).toEqual([0, 1, 2, 3]);
    expect(chain[0]?.prevHash).toBe(GENESIS_HASH);
    expect(chain[2]?.prevHash).toBe(chain[1]?.hash);
    expect(chain[1]?.time).toBe('2025-11-01T09:00:01.000Z');
    expect(verifyChain(chain)).toEqual({ ok: true, length: 4, head: auditHead(chain) });
    expect(verifyChain([])).toEqual({ ok: true, length: 0, head: GENESIS_HASH });
  });

  it('is append-only: appending returns a new chain and leaves the old one as it was', () => {
    const chain = sample();
    const longer = appendEvent(chain, { time: T0 + 4000, actor: 'worker', type: 'ceremony.completed' });
    expect(chain).toHaveLength(4);
    expect(longer).toHaveLength(5);
    expect(longer.slice(0, 4)).toEqual(chain);
  });

  it('detects an edited event', () => {
    const chain = sample().map((e) => ({ ...e })) as AuditEvent[];
    chain[1] = { ...(chain[1] as AuditEvent), data: { decision: 'reject' } };
    expect(broken(chain)).toBe('event 1: hash does not match its content (the event was edited)');
    const actor = sample().map((e, i) => (i === 2 ? { ...e, actor: 'approver:mallory' } : e));
    expect(broken(actor)).toMatch(/^event 2: hash does not match/);
  });

  it('detects an edited event whose hash was recomputed (the next link breaks)', () => {
    const chain = [...sample()];
    const forged = { ...(chain[1] as AuditEvent), data: { decision: 'reject' } };
    const rehashed = appendEvent(chain.slice(0, 1), {
      time: T0 + 1000,
      actor: forged.actor,
      type: forged.type,
      data: forged.data,
    });
    chain[1] = rehashed[1] as AuditEvent;
    expect(broken(chain)).toMatch(/^event 2: prevHash does not match/);
  });

  it('detects removed, reordered and inserted events', () => {
    const chain = sample();
    expect(broken([chain[0], chain[2], chain[3]])).toMatch(/^event 1: seq is 2/);
    expect(broken([chain[0], chain[2], chain[1], chain[3]])).toMatch(/^event 1: seq is 2/);
    const renumbered = [chain[0], { ...(chain[2] as AuditEvent), seq: 1 }];
    expect(broken(renumbered)).toMatch(/^event 1: prevHash does not match/);
    expect(broken([{ ...(chain[0] as AuditEvent), time: undefined }])).toBe(
      'event 0: is not a complete audit event',
    );
  });

  it('detects a truncated export through its head hash', () => {
    const chain = sample();
    const doc = JSON.parse(exportAuditJson('cer-1', chain)) as { events: AuditEvent[] };
    expect(importAuditJson(exportAuditJson('cer-1', chain)).head).toBe(auditHead(chain));
    doc.events.pop();
    expect(() => importAuditJson(JSON.stringify(doc))).toThrow(/head does not match the events/);
    doc.events[0] = { ...(doc.events[0] as AuditEvent), actor: 'x' };
    expect(() => importAuditJson(JSON.stringify(doc))).toThrow(ByokError);
  });

  it('never records PINs, passwords, private keys or key material', () => {
    const attempts: Record<string, unknown>[] = [
      { pin: '1234' },
      { hsm: { userPin: '1234' } },
      { so_pin: 'x' },
      { password: 'x' },
      { items: [{ privateKey: 'x' }] },
      { keyMaterial: 'x' },
      { note: '-----BEGIN PRIVATE KEY-----\nMIIE...' },
      { blob: 'A'.repeat(4096) },
    ];
    for (const data of attempts) {
      expect(() =>
        appendEvent([], { time: T0, actor: 'worker', type: 'hsm.wrapped', data: data as never }),
      ).toThrow(ByokError);
    }
    expect(() =>
      appendEvent([], { time: T0, actor: 'worker', type: 'hsm.wrapped', data: { pinSource: 'env' } }),
    ).not.toThrow();
  });

  it('refuses bad events: time going back, bad type, empty actor', () => {
    const chain = sample();
    expect(() => appendEvent(chain, { time: T0, actor: 'worker', type: 'late' })).toThrow(
      /before the previous event/,
    );
    expect(() => appendEvent(chain, { time: T0 + 9000, actor: 'worker', type: 'Not Dotted' })).toThrow(
      /dotted lower-case/,
    );
    expect(() => appendEvent(chain, { time: T0 + 9000, actor: ' ', type: 'x' })).toThrow(/actor/);
  });

  it('renders a readable report that says whether the chain holds', () => {
    const chain = sample();
    const report = renderAuditReport('cer-1', chain);
    expect(report).toContain('# Ceremony cer-1: audit record');
    expect(report).toContain(`Chain verified: 4 events, head \`${auditHead(chain)}\`.`);
    expect(report).toContain(
      '| 1 | 2025-11-01T09:00:01.000Z | approver:alice | approval.accepted | decision: approve |',
    );
    expect(report).toContain('wrap: {"method":"two-step","oaepHash":"sha1"}');
    const tampered = chain.map((e, i) => (i === 1 ? { ...e, data: { decision: 'reject' } } : e));
    expect(renderAuditReport('cer-1', tampered)).toContain('**CHAIN BROKEN** at event 1');
  });
});

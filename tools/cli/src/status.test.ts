import { describe, expect, it } from 'vitest';
import { classStatuses, formatRebuild, formatStatus, parseStatusArgs, StatusUsageError } from './status.ts';

const ssd = {
  resource_class: 'acme/ssd',
  at: '2026-01-01T00:00:00.000Z',
  enabled: false,
  consecutive_failures: 4,
  reason: 'no node matches nodeSelector disktype=ssd (8 nodes checked: 0 have disktype=ssd)',
};
const plain = { ...ssd, resource_class: 'acme/plain', enabled: true, consecutive_failures: 0, reason: '' };

describe('longshore status', () => {
  it('joins statuses with open claims; a class with claims but no status is enabled and unchecked', () => {
    const rows = classStatuses(
      [ssd, plain],
      new Map([
        ['acme/plain', 3],
        ['acme/new', 1],
      ]),
    );
    expect(rows.map((r) => [r.resource_class, r.enabled, r.checked, r.in_flight])).toEqual([
      ['acme/new', true, false, 1],
      ['acme/plain', true, true, 3],
      ['acme/ssd', false, true, 0],
    ]);
  });

  it('prints a table', () => {
    expect(formatStatus(classStatuses([ssd, plain], new Map([['acme/plain', 3]])))).toEqual([
      'RESOURCE CLASS  CLAIMING  FAILURES  IN FLIGHT  CHECKED                   REASON',
      'acme/plain      enabled   0         3          2026-01-01T00:00:00.000Z  -',
      `acme/ssd        disabled  4         0          2026-01-01T00:00:00.000Z  ${ssd.reason}`,
    ]);
    expect(formatStatus([])).toEqual(['no resource class has a constraint status or open claims']);
  });

  it('says when the ledger was last rebuilt after Redis lost it', () => {
    expect(
      formatRebuild({
        at: '2026-12-04T12:00:00.000Z',
        runner: 'claimer-0',
        restoredClaims: 4,
        restoredPending: 1,
      }),
    ).toBe(
      'ledger: lost its data and was rebuilt at 2026-12-04T12:00:00.000Z by claimer-0 (4 claims and 1 pending written back); claims of runners that were down then could not be rebuilt (docs/architecture.md)',
    );
  });

  it('parses its options', () => {
    expect(parseStatusArgs(['--json', '--prefix', 'p1', '--nats', 'nats://x:1'])).toMatchObject({
      json: true,
      prefix: 'p1',
      natsUrl: 'nats://x:1',
    });
    expect(() => parseStatusArgs(['--bogus'])).toThrow(StatusUsageError);
  });
});

import type { ClaimState } from '@longshore/contracts';
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
      'RESOURCE CLASS  CLAIMING  POD CHECK  FAILURES  IN FLIGHT  DROPPED  CHECKED                   REASON',
      'acme/plain      enabled   -          0         3          0        2026-01-01T00:00:00.000Z  -',
      `acme/ssd        disabled  -          4         0          0        2026-01-01T00:00:00.000Z  ${ssd.reason}`,
    ]);
    expect(formatStatus([])).toEqual(['no resource class has a constraint status, open claims or a claimer']);
  });

  const claimState = (runner: string, rc: string, over: Partial<ClaimState> = {}): ClaimState => ({
    runner,
    resource_class: rc,
    at: '2026-01-01T00:10:00.000Z',
    state: 'claiming',
    since: '2026-01-01T00:00:00.000Z',
    reason: '',
    last_error: null,
    dropped: {},
    last_drop: null,
    ...over,
  });
  const REFUSED = 'POST /api/v3/runner/claim: HTTP 403 (unknown resource class token)';

  it('shows a refused token on its class alone, since the earliest claimer saw it, with why', () => {
    const rows = classStatuses([plain], new Map([['acme/plain', 1]]), [
      claimState('c1', 'acme/plain'),
      claimState('c1', 'acme/big', {
        state: 'token-refused',
        since: '2026-01-01T00:05:00.000Z',
        reason: 'later',
      }),
      claimState('c2', 'acme/big', {
        state: 'token-refused',
        since: '2026-01-01T00:01:00.000Z',
        reason: REFUSED,
      }),
    ]);
    expect(rows.map((r) => [r.resource_class, r.claimers, r.token_refused])).toEqual([
      ['acme/big', 2, { since: '2026-01-01T00:01:00.000Z', reason: REFUSED, claimers: 2 }],
      ['acme/plain', 1, null],
    ]);
    expect(formatStatus(rows)).toEqual([
      'RESOURCE CLASS  CLAIMING       POD CHECK  FAILURES  IN FLIGHT  DROPPED  CHECKED                   REASON',
      'acme/big        token refused  -          0         0          0        never                     -',
      'acme/plain      enabled        -          0         1          0        2026-01-01T00:00:00.000Z  -',
      `acme/big: token refused since 2026-01-01T00:01:00.000Z (2 of 2 claimers): ${REFUSED}`,
    ]);
  });

  it('shows a class as draining only when every claimer of it is', () => {
    const draining = { state: 'draining' as const, reason: 'stopping' };
    const rows = classStatuses([], new Map(), [
      claimState('c1', 'acme/a', draining),
      claimState('c1', 'acme/b', draining),
      claimState('c2', 'acme/b'),
    ]);
    expect(rows.map((r) => [r.resource_class, r.claimers, r.draining])).toEqual([
      ['acme/a', 1, 1],
      ['acme/b', 2, 1],
    ]);
    expect(
      formatStatus(rows)
        .slice(1)
        .map((l) => l.split(/\s+/).slice(0, 2)),
    ).toEqual([
      ['acme/a', 'draining'],
      ['acme/b', 'enabled'],
    ]);
  });

  it('adds up drops over the claimers by stage and shows the latest one', () => {
    const last = {
      at: '2026-01-01T00:09:00.000Z',
      stage: 'config' as const,
      outcome: 'failed' as const,
      error: 'GET /api/v2/task/config: HTTP 200 answer is not the expected shape (containers: Invalid input)',
    };
    const rows = classStatuses([], new Map(), [
      claimState('c1', 'acme/plain', {
        dropped: { config: 2 },
        last_drop: { ...last, at: '2026-01-01T00:02:00.000Z', error: 'older' },
      }),
      claimState('c2', 'acme/plain', { dropped: { config: 1, claim: 1 }, last_drop: last }),
    ]);
    expect(rows[0]).toMatchObject({ dropped: { config: 3, claim: 1 }, last_drop: { ...last, runner: 'c2' } });
    expect(formatStatus(rows).slice(1)).toEqual([
      'acme/plain      enabled   -          0         0          4        never    -',
      `acme/plain: 4 claims dropped (config 3, claim 1); last at ${last.at} (config, failed, c2): ${last.error}`,
    ]);
  });

  it('shows a class whose pod Kubernetes refused as disabled, with the field and the reason', () => {
    const check = (rc: string, outcome: 'accepted' | 'refused', extra = {}) => ({
      resource_class: rc,
      at: '2026-01-01T00:00:00.000Z',
      outcome,
      reason: outcome === 'refused' ? 'unknown field "resourcez"' : '',
      fingerprint: 'f',
      runner: 'scheduler-0',
      ...extra,
    });
    const rows = classStatuses(
      [plain],
      new Map(),
      [],
      [
        check('acme/plain', 'accepted'),
        check('acme/typo', 'refused', { field: 'spec.containers[0].resourcez' }),
      ],
    );
    expect(rows.map((r) => [r.resource_class, r.enabled, r.pod_check?.outcome, r.reason])).toEqual([
      ['acme/plain', true, 'accepted', ''],
      ['acme/typo', false, 'refused', 'pod check: spec.containers[0].resourcez: unknown field "resourcez"'],
    ]);
    expect(formatStatus(rows)[2]).toBe(
      'acme/typo       disabled  refused    0         0          0        never                     pod check: spec.containers[0].resourcez: unknown field "resourcez"',
    );
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

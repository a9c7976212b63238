// `longshore status`: per resource class, whether claiming is enabled (the constraint
// checker's latest word, from its KV bucket), its consecutive failed checks and why, how
// many claims are open (the Redis claim ledger), and what the claimers say of it (their
// claim-state bucket): the Runner API refused its token (since when, why), they are
// draining (stopping), and the claims they dropped, by stage, with the last one's reason. A class with claims but no status yet
// has not been checked: it is enabled, as the claimer treats it.
import { parseArgs } from 'node:util';
import { connectBus } from '@longshore/bus';
import { natsServers } from '@longshore/config';
import {
  CLAIM_STATE_KV_BUCKET,
  CLAIM_STATE_TTL_MS,
  type ClaimStage,
  ClaimState,
  CONSTRAINTS_KV_BUCKET,
  ConstraintStatus,
  POD_CHECK_KV_BUCKET,
  PodCheckResult,
} from '@longshore/contracts';
import { type RebuildNote, RedisClaimLedger } from '@longshore/ledger';
import { Redis } from 'ioredis';
import type { Io } from './config-check.ts';
import { DEFAULT_PREFIX, defaultNatsUrl } from './tap.ts';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export interface StatusOptions {
  json?: boolean;
  /** Default: $NATS_URL, then the test bed's, then localhost. */
  natsUrl?: string;
  /** Default: $REDIS_URL, then the test bed's, then localhost. */
  redisUrl?: string;
  /** Bus subject prefix. Default `longshore`. */
  prefix?: string;
  /** Redis key prefix (redis.keyPrefix). Default: the bus prefix. */
  keyPrefix?: string;
}

export interface ClassStatus {
  resource_class: string;
  enabled: boolean;
  /** False when the checker has not spoken about this class (off, or not yet run). */
  checked: boolean;
  consecutive_failures: number;
  reason: string;
  checked_at: string | null;
  in_flight: number;
  /** Claimers that say what they do for this class (claim-state bucket). */
  claimers: number;
  /** Of those, the ones that are stopping (draining): no more claims from them. */
  draining: number;
  /** Set while any claimer has the class's token refused by the Runner API. */
  token_refused: { since: string; reason: string; claimers: number } | null;
  /** Claims dropped by the claimers since each started, by stage. */
  dropped: Partial<Record<ClaimStage, number>>;
  last_drop: (NonNullable<ClaimState['last_drop']> & { runner: string }) | null;
  /** The scheduler's server-side dry run of the class's task pod (pod-check bucket), if any. */
  pod_check: Pick<PodCheckResult, 'outcome' | 'field' | 'reason' | 'at'> | null;
}

/** The command line was wrong; the CLI prints the message and the usage. */
export class StatusUsageError extends Error {
  override name = 'StatusUsageError';
}

export function parseStatusArgs(args: string[]): StatusOptions {
  try {
    const { values } = parseArgs({
      args,
      strict: true,
      options: {
        json: { type: 'boolean', default: false },
        nats: { type: 'string' },
        redis: { type: 'string' },
        prefix: { type: 'string' },
        'key-prefix': { type: 'string' },
      },
    });
    return {
      json: values.json,
      natsUrl: values.nats,
      redisUrl: values.redis,
      prefix: values.prefix,
      keyPrefix: values['key-prefix'],
    };
  } catch (err) {
    throw new StatusUsageError((err as Error).message, { cause: err });
  }
}

/** What a row holds before anything is known of its class. */
function emptyRow(resourceClass: string): ClassStatus {
  return {
    resource_class: resourceClass,
    enabled: true,
    checked: false,
    consecutive_failures: 0,
    reason: '',
    checked_at: null,
    in_flight: 0,
    claimers: 0,
    draining: 0,
    token_refused: null,
    dropped: {},
    last_drop: null,
    pod_check: null,
  };
}

/**
 * Joins the checker's statuses, open claims and the claimers' claim states per class,
 * sorted by class. A token counts as refused while any claimer says so, since (and why)
 * the earliest of them said so; drops add up over the claimers.
 */
export function classStatuses(
  statuses: readonly ConstraintStatus[],
  openClaims: ReadonlyMap<string, number>,
  claimStates: readonly ClaimState[] = [],
  podChecks: readonly PodCheckResult[] = [],
): ClassStatus[] {
  const rows = new Map<string, ClassStatus>();
  const row = (rc: string) => {
    const r = rows.get(rc) ?? emptyRow(rc);
    rows.set(rc, r);
    return r;
  };
  for (const s of statuses)
    Object.assign(row(s.resource_class), {
      enabled: s.enabled,
      checked: true,
      consecutive_failures: s.consecutive_failures,
      reason: s.reason,
      checked_at: s.at,
    });
  for (const [rc, n] of openClaims) row(rc).in_flight = n;
  for (const p of podChecks) {
    const r = row(p.resource_class);
    r.pod_check = { outcome: p.outcome, ...(p.field ? { field: p.field } : {}), reason: p.reason, at: p.at };
    if (p.outcome === 'refused') {
      // The claimers do not claim for a class whose pod Kubernetes refused.
      r.enabled = false;
      const why = `pod check: ${p.field ? `${p.field}: ` : ''}${p.reason}`;
      r.reason = r.reason ? `${r.reason}; ${why}` : why;
    }
  }
  for (const c of claimStates) {
    const r = row(c.resource_class);
    r.claimers++;
    if (c.state === 'draining') r.draining++;
    if (c.state === 'token-refused') {
      const t = r.token_refused;
      r.token_refused =
        t === null
          ? { since: c.since, reason: c.reason, claimers: 1 }
          : c.since < t.since
            ? { since: c.since, reason: c.reason, claimers: t.claimers + 1 }
            : { ...t, claimers: t.claimers + 1 };
    }
    for (const [stage, n] of Object.entries(c.dropped) as [ClaimStage, number][])
      r.dropped[stage] = (r.dropped[stage] ?? 0) + n;
    if (c.last_drop !== null && (r.last_drop === null || c.last_drop.at > r.last_drop.at))
      r.last_drop = { ...c.last_drop, runner: c.runner };
  }
  return [...rows.values()].sort((a, b) => a.resource_class.localeCompare(b.resource_class));
}

/** The CLAIMING column: a refused token first, then every claimer draining, then the checker's word. */
function claimingWord(r: ClassStatus): string {
  if (r.token_refused) return 'token refused';
  if (r.draining > 0 && r.draining === r.claimers) return 'draining';
  return r.enabled ? 'enabled' : 'disabled';
}

const droppedTotal = (r: ClassStatus) => Object.values(r.dropped).reduce((a, n) => a + (n ?? 0), 0);

export function formatStatus(rows: readonly ClassStatus[]): string[] {
  if (rows.length === 0) return ['no resource class has a constraint status, open claims or a claimer'];
  const table = [
    ['RESOURCE CLASS', 'CLAIMING', 'POD CHECK', 'FAILURES', 'IN FLIGHT', 'DROPPED', 'CHECKED', 'REASON'],
    ...rows.map((r) => [
      r.resource_class,
      claimingWord(r),
      r.pod_check?.outcome ?? '-',
      String(r.consecutive_failures),
      String(r.in_flight),
      String(droppedTotal(r)),
      r.checked_at ?? 'never',
      r.reason || '-',
    ]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  const lines = table.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
  // What does not fit a column: why a token is refused, and what the drops were.
  for (const r of rows) {
    const t = r.token_refused;
    if (t)
      lines.push(
        `${r.resource_class}: token refused since ${t.since} (${t.claimers} of ${r.claimers} claimers): ${t.reason}`,
      );
    const d = r.last_drop;
    if (d) {
      const byStage = Object.entries(r.dropped)
        .map(([stage, n]) => `${stage} ${n}`)
        .join(', ');
      lines.push(
        `${r.resource_class}: ${droppedTotal(r)} claims dropped (${byStage}); last at ${d.at} ` +
          `(${d.stage}, ${d.outcome}, ${d.runner}): ${d.error}`,
      );
    }
  }
  return lines;
}

/** The last time Redis lost the ledger and a claimer wrote its claims back. */
export function formatRebuild(r: RebuildNote): string {
  return (
    `ledger: lost its data and was rebuilt at ${r.at} by ${r.runner} ` +
    `(${r.restoredClaims} claims and ${r.restoredPending} pending written back); ` +
    'claims of runners that were down then could not be rebuilt (docs/architecture.md)'
  );
}

export async function status(
  options: StatusOptions,
  io: Io,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const bus = await connectBus({
    // NATS_URL may list several servers; nats.js would take a comma-separated string as one.
    servers: natsServers(options.natsUrl ?? (await defaultNatsUrl(env))),
    prefix,
    name: `longshore-status-${process.pid}`,
  });
  const redis = new Redis(options.redisUrl ?? (await defaultRedisUrl(env)), {
    maxRetriesPerRequest: 1,
    lazyConnect: true,
  });
  try {
    const statuses = await values(await bus.kv(CONSTRAINTS_KV_BUCKET, ConstraintStatus));
    const claimStates = await values(
      await bus.kv(CLAIM_STATE_KV_BUCKET, ClaimState, { ttlMs: CLAIM_STATE_TTL_MS }),
    );
    await redis.connect();
    const ledger = new RedisClaimLedger({ redis, keyPrefix: options.keyPrefix ?? prefix, tokenTtlMs: 1 });
    const open = new Map<string, number>();
    for (const c of await ledger.allClaims()) open.set(c.resourceClass, (open.get(c.resourceClass) ?? 0) + 1);
    const podChecks = await values(await bus.kv(POD_CHECK_KV_BUCKET, PodCheckResult));
    const rows = classStatuses(statuses, open, claimStates, podChecks);
    const rebuild = await ledger.lastRebuild();
    if (options.json) io.out(JSON.stringify({ classes: rows, ledger: { last_rebuild: rebuild ?? null } }));
    else {
      for (const line of formatStatus(rows)) io.out(line);
      if (rebuild) io.out(formatRebuild(rebuild));
    }
    return 0;
  } finally {
    await Promise.allSettled([bus.close({ graceMs: 1_000 }), redis.quit()]);
  }
}

/** Every current value of a KV bucket (an invalid one is skipped: the bus logs it). */
async function values<T>(kv: {
  keys(): Promise<string[]>;
  get(key: string): Promise<{ value: T } | undefined>;
}): Promise<T[]> {
  const out: T[] = [];
  for (const key of await kv.keys()) {
    const v = await kv.get(key);
    if (v) out.push(v.value);
  }
  return out;
}

async function defaultRedisUrl(env: NodeJS.ProcessEnv): Promise<string> {
  if (env.REDIS_URL) return env.REDIS_URL;
  try {
    const { readTestbedEnv } = await import('@longshore/testbed');
    return readTestbedEnv().REDIS_URL;
  } catch {
    return DEFAULT_REDIS_URL;
  }
}

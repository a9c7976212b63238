// `longshore status`: per resource class, whether claiming is enabled (the constraint
// checker's latest word, from its KV bucket), its consecutive failed checks and why, and
// how many claims are open (the Redis claim ledger). A class with claims but no status yet
// has not been checked: it is enabled, as the claimer treats it.
import { parseArgs } from 'node:util';
import { connectBus } from '@longshore/bus';
import { CONSTRAINTS_KV_BUCKET, ConstraintStatus } from '@longshore/contracts';
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

/** Joins the checker's statuses with open claims per class, sorted by class. */
export function classStatuses(
  statuses: readonly ConstraintStatus[],
  openClaims: ReadonlyMap<string, number>,
): ClassStatus[] {
  const rows = new Map<string, ClassStatus>();
  for (const s of statuses)
    rows.set(s.resource_class, {
      resource_class: s.resource_class,
      enabled: s.enabled,
      checked: true,
      consecutive_failures: s.consecutive_failures,
      reason: s.reason,
      checked_at: s.at,
      in_flight: 0,
    });
  for (const [rc, n] of openClaims) {
    const row = rows.get(rc) ?? {
      resource_class: rc,
      enabled: true,
      checked: false,
      consecutive_failures: 0,
      reason: '',
      checked_at: null,
      in_flight: 0,
    };
    row.in_flight = n;
    rows.set(rc, row);
  }
  return [...rows.values()].sort((a, b) => a.resource_class.localeCompare(b.resource_class));
}

export function formatStatus(rows: readonly ClassStatus[]): string[] {
  if (rows.length === 0) return ['no resource class has a constraint status or open claims'];
  const table = [
    ['RESOURCE CLASS', 'CLAIMING', 'FAILURES', 'IN FLIGHT', 'CHECKED', 'REASON'],
    ...rows.map((r) => [
      r.resource_class,
      r.enabled ? 'enabled' : 'disabled',
      String(r.consecutive_failures),
      String(r.in_flight),
      r.checked_at ?? 'never',
      r.reason || '-',
    ]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  return table.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
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
    servers: options.natsUrl ?? (await defaultNatsUrl(env)),
    prefix,
    name: `longshore-status-${process.pid}`,
  });
  const redis = new Redis(options.redisUrl ?? (await defaultRedisUrl(env)), {
    maxRetriesPerRequest: 1,
    lazyConnect: true,
  });
  try {
    const kv = await bus.kv(CONSTRAINTS_KV_BUCKET, ConstraintStatus);
    const statuses: ConstraintStatus[] = [];
    for (const key of await kv.keys()) {
      const v = await kv.get(key);
      if (v) statuses.push(v.value);
    }
    await redis.connect();
    const ledger = new RedisClaimLedger({ redis, keyPrefix: options.keyPrefix ?? prefix, tokenTtlMs: 1 });
    const open = new Map<string, number>();
    for (const c of await ledger.allClaims()) open.set(c.resourceClass, (open.get(c.resourceClass) ?? 0) + 1);
    const rows = classStatuses(statuses, open);
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

async function defaultRedisUrl(env: NodeJS.ProcessEnv): Promise<string> {
  if (env.REDIS_URL) return env.REDIS_URL;
  try {
    const { readTestbedEnv } = await import('@longshore/testbed');
    return readTestbedEnv().REDIS_URL;
  } catch {
    return DEFAULT_REDIS_URL;
  }
}

// The GC against the test bed: it deletes only our old or orphaned objects, reconciles the
// ledger with the pods (events on the bus), keeps its request rate within the bound as the
// apiserver itself counts it, and a sweep stopped half-way loses nothing.
import { randomBytes } from 'node:crypto';
import { request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { type Bus, connectBus } from '@longshore/bus';
import {
  Labels,
  MANAGED_BY,
  redisKeys,
  Subjects,
  type TaskConfig,
  taskMsgId,
  taskObjectName,
} from '@longshore/contracts';
import { type ClaimLedger, RedisClaimLedger } from '@longshore/ledger';
import { createLogger } from '@longshore/logging';
import { simplePod, tempNamespace, testKube } from '@longshore/testbed/testing';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type GcSettings, GcSweeper } from '../src/index.ts';

const { kc, core } = testKube();
const redis = new Redis(process.env.REDIS_URL!);
const logger = createLogger({
  name: 'gc-test',
  level: (process.env.GC_TEST_LOG as 'debug' | undefined) ?? 'warn',
});
const cleanups: (() => Promise<unknown>)[] = [];
let bus: Bus;

beforeAll(async () => {
  bus = await connectBus({ servers: process.env.NATS_URL!, prefix: `gc${hex()}`, name: 'gc-test' });
  await bus.ensureStream();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});
afterAll(async () => {
  await bus.close();
  redis.disconnect();
});

function hex() {
  return randomBytes(4).toString('hex');
}

const LABELS = { [Labels.managedBy]: MANAGED_BY };
const taskLabels = (name: string) => ({ ...LABELS, [Labels.taskId]: name });

async function namespace() {
  const ns = await tempNamespace(core, 'gc');
  cleanups.push(ns.cleanup);
  return ns.name;
}

function sweeper(ns: string, s: Partial<GcSettings> = {}) {
  const keyPrefix = `gc${hex()}`;
  const ledger = new RedisClaimLedger({ redis, keyPrefix, tokenTtlMs: 600_000 });
  cleanups.push(async () => {
    const keys = await redis.keys(`${keyPrefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  });
  const settings: GcSettings = {
    namespace: ns,
    runner: 'gc-test',
    intervalMs: 60_000,
    thresholdMs: 2_000,
    claimGraceMs: 60_000,
    orphanGraceMs: 60_000,
    maxRequestsPerSecond: 200,
    batchSize: 100,
    unsafeRetryClasses: new Set(),
    ...s,
  };
  const make = () =>
    new GcSweeper({
      core,
      bus,
      ledger,
      redis,
      leaseKey: redisKeys(keyPrefix).lock('gc-sweep'),
      settings,
      logger,
      registry: new Registry(),
    });
  return { ledger, make, keyPrefix };
}

const pod = (name: string, labels: Record<string, string>): V1Pod => {
  const p = simplePod(name, 'fate.test/hang');
  p.metadata = { name, labels };
  return p;
};

async function names(ns: string) {
  const [pods, secrets] = await Promise.all([
    core.listNamespacedPod({ namespace: ns }),
    core.listNamespacedSecret({ namespace: ns }),
  ]);
  return {
    pods: pods.items.map((p) => p.metadata!.name!).sort(),
    secrets: secrets.items.map((s) => s.metadata!.name!).sort(),
  };
}

/** Files a claim of runner-1 (attempt 1) in the ledger, as the claimer does, claimed `agoMs` ago. */
async function fileClaim(ledger: ClaimLedger, id: string, opts: { launched?: boolean; agoMs?: number } = {}) {
  const p = {
    allocation: `a-${id}`,
    resourceClass: 'acme/small',
    token: 't',
    claimedAt: new Date(Date.now() - (opts.agoMs ?? 5_000)).toISOString(),
  };
  await ledger.begin('runner-1', p);
  await ledger.commit('runner-1', p, {
    task_id: id,
    resource_class: 'acme/small',
    job_name: 'j',
    working_directory: '~',
    containers: [{ image: 'cimg/base:2024.01', environment: {} }],
    ssh_advertise_addr: '',
  } as TaskConfig);
  if (opts.launched) await ledger.mark(id, 1, 'launched');
  return p;
}

async function createSecrets(ns: string, count: number, concurrency = 100) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        await core.createNamespacedSecret({
          namespace: ns,
          body: { metadata: { name: `bulk-${i}`, labels: LABELS }, stringData: { k: 'v' } },
        });
      }
    }),
  );
}

/** Secrets in the namespace, counted by the apiserver (a list of one). */
async function countOf(ns: string): Promise<number> {
  const page = await core.listNamespacedSecret({ namespace: ns, limit: 1 });
  return page.items.length + (page.metadata?.remainingItemCount ?? 0);
}

/** DELETEs of Secrets the apiserver has served so far, from its own /metrics. */
async function apiserverSecretDeletes(kcfg: KubeConfig): Promise<number> {
  const server = kcfg.getCurrentCluster()!.server;
  const opts: Parameters<typeof request>[1] = { method: 'GET' };
  await kcfg.applyToHTTPSOptions(opts);
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(`${server}/metrics`, opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    if (!line.includes('verb="DELETE"') || !line.includes('resource="secrets"')) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

describe('gc', () => {
  it('deletes only our old objects: young task pods and unlabelled objects survive', async () => {
    const ns = await namespace();
    const { make } = sweeper(ns);
    await core.createNamespacedPod({ namespace: ns, body: pod('old-pod', LABELS) });
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'old-secret', labels: LABELS } },
    });
    await core.createNamespacedPod({ namespace: ns, body: pod('bare-pod', {}) });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'bare-secret' } } });
    await sleep(3_000);
    const young = taskObjectName('young', 1);
    await core.createNamespacedPod({ namespace: ns, body: pod(young, taskLabels(young)) });

    const report = await make().sweepOnce();

    expect(report).toMatchObject({ pods_deleted: 1, secrets_deleted: 1, errors: 0 });
    const left = await names(ns);
    expect(left.pods).toEqual(['bare-pod', young].sort());
    expect(left.secrets).toContain('bare-secret');
    expect(left.secrets).not.toContain('old-secret');
  });

  it('reconciles the ledger with the pods: interrupts lost tasks, re-announces unlaunched claims, deletes orphans', async () => {
    const ns = await namespace();
    const { ledger, make, keyPrefix } = sweeper(ns, {
      thresholdMs: 3_600_000,
      claimGraceMs: 1_000,
      orphanGraceMs: 1_000,
    });
    // A ledger that has been there for an hour: a young one (just started, or started again
    // after Redis lost its data) holds orphans back for the grace while claimers write back.
    await redis.set(redisKeys(keyPrefix).generation(), `test@${Date.now() - 3_600_000}`);
    await fileClaim(ledger, 'lost', { launched: true });
    await fileClaim(ledger, 'unlaunched');
    const orphanPod = taskObjectName('nobody', 1);
    const orphanSecret = taskObjectName('gone', 1);
    await core.createNamespacedPod({ namespace: ns, body: pod(orphanPod, taskLabels(orphanPod)) });
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: orphanSecret, labels: taskLabels(orphanSecret) } },
    });
    const seen: { name: string; payload: unknown }[] = [];
    const sub = bus.subscribe([Subjects.taskInterrupted, Subjects.taskClaimed, Subjects.gcSwept], (e) => {
      seen.push({ name: e.name, payload: e.payload });
    });
    cleanups.push(() => sub.stop());
    await sleep(1_500);

    const report = await make().sweepOnce();

    expect(report).toMatchObject({
      claims_interrupted: 1,
      claims_reannounced: 1,
      pods_deleted: 1,
      secrets_deleted: 1,
    });
    expect(await names(ns)).toEqual({ pods: [], secrets: [] });
    await expect
      .poll(() => seen.map((e) => e.name).sort())
      .toEqual(['gc.swept', 'task.claimed', 'task.interrupted']);
    expect(seen.find((e) => e.name === 'task.interrupted')?.payload).toMatchObject({
      task_id: 'lost',
      runner: 'runner-1',
      reason: 'lost',
      error: 'task pod disappeared',
      to_retry: false,
    });
    expect(seen.find((e) => e.name === 'task.claimed')?.payload).toMatchObject({ task_id: 'unlaunched' });
  });

  it("re-announces a claim whose announce was lost even when claimGrace is shorter than the stream's dedup window", async () => {
    const ns = await namespace();
    // 5 s: well inside JetStream's 2-minute duplicate window, so a re-announce that reused
    // the claimer's msg id would be dropped by the stream.
    const { ledger, make } = sweeper(ns, { claimGraceMs: 5_000 });
    const id = `lost-announce-${hex()}`;
    const claim = await fileClaim(ledger, id, { agoMs: 10_000 });
    // A launcher, as the scheduler's durable consumer: every task.claimed it is handed.
    const delivered: string[] = [];
    const launcher = await bus.consume(Subjects.taskClaimed, {
      durable: `launcher-${hex()}`,
      handler: async (d) => {
        if (d.payload.task_id === id) delivered.push(d.msgId ?? '');
        return 'ack';
      },
    });
    cleanups.push(() => launcher.stop());
    // The claimer's announce reached a launcher that lost it (acked, then died before the pod).
    await bus.publish(
      Subjects.taskClaimed,
      {
        task_id: id,
        resource_class: claim.resourceClass,
        attempt: 1,
        runner: 'runner-1',
        at: claim.claimedAt,
        allocation: claim.allocation,
      },
      { msgId: taskMsgId(id, 1, 'claimed') },
    );
    await expect.poll(() => delivered.length).toBe(1);

    const report = await make().sweepOnce();

    expect(report).toMatchObject({ claims_reannounced: 1, errors: 0 });
    await expect.poll(() => delivered.length).toBe(2);
    expect(delivered[1]).not.toBe(taskMsgId(id, 1, 'claimed'));
  });

  it('sweeps 10,000 Secrets within the request-rate bound, and a sweep stopped half-way loses nothing', async () => {
    const ns = await namespace();
    const N = Number(process.env.LONGSHORE_GC_TEST_OBJECTS ?? 10_000);
    const rate = 200;
    const { make } = sweeper(ns, { maxRequestsPerSecond: rate, batchSize: 100 });
    let t = performance.now();
    await createSecrets(ns, N);
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'bare-secret' } } });
    const createdMs = performance.now() - t;
    await sleep(2_500);

    // A first GC is stopped mid-sweep (as on SIGTERM or a kill), then a fresh one finishes.
    const abort = new AbortController();
    const first = make().sweepOnce(abort.signal);
    while ((await countOf(ns)) > N - 300) await sleep(100);
    abort.abort();
    const stopped = await first;
    expect(stopped.secrets_deleted).toBeGreaterThan(0);
    expect(stopped.secrets_deleted).toBeLessThan(N);

    const young = taskObjectName('young', 1);
    await core.createNamespacedPod({ namespace: ns, body: pod(young, taskLabels(young)) });
    const before = await apiserverSecretDeletes(kc);
    t = performance.now();
    const report = await make().sweepOnce();
    const sweepMs = performance.now() - t;
    const deletes = (await apiserverSecretDeletes(kc)) - before;
    // The pod was young when this sweep listed it (the threshold here is 2 s, so later
    // sweeps may rightly find it old): it must have survived this one.
    expect((await names(ns)).pods).toEqual([young]);
    const measured = deletes / (sweepMs / 1000);
    console.log(
      `gc: created ${N} Secrets in ${Math.round(createdMs)} ms; stopped sweep deleted ${stopped.secrets_deleted}; ` +
        `second sweep deleted ${report.secrets_deleted} (errors ${report.errors}) in ${Math.round(sweepMs)} ms: ` +
        `${measured.toFixed(1)} DELETE/s (limit ${rate})`,
    );
    // A busy apiserver may time some deletes out (504): the next sweep does them.
    // (A timed-out delete may also have gone through: count what is left, not what was reported.)
    let total = stopped.secrets_deleted + report.secrets_deleted;
    for (let i = 0; i < 5 && (await countOf(ns)) > 1; i++)
      total += (await make().sweepOnce()).secrets_deleted;
    expect(total).toBeLessThanOrEqual(N);
    // The apiserver is shared with other tests: its count may include a few of their deletes.
    expect(deletes).toBeGreaterThanOrEqual(report.secrets_deleted);
    expect(measured).toBeLessThanOrEqual(rate * 1.1);
    const left = await names(ns);
    expect(left.secrets.filter((n) => n.startsWith('bulk-'))).toEqual([]);
    expect(left.secrets).toContain('bare-secret');
  }, 900_000);
});

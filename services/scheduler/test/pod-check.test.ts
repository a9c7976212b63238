// Each resource class's task pod, judged by the test bed's real kube-apiserver in a dry run
// with strict field validation: a misspelt field inside the class's spec and a value the
// apiserver does not take are refused with the field named, a good class passes, and
// nothing is created. Then the scheduler process itself, at start, puts every verdict into
// the pod-check bucket where the claimer reads it.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectBus } from '@longshore/bus';
import { LongshoreConfig, parseConfig } from '@longshore/config';
import { POD_CHECK_KV_BUCKET, PodCheckResult, podCheckFingerprint, podCheckKey } from '@longshore/contracts';
import { loadKubeConfig } from '@longshore/kube';
import { readTestbedEnv, spawnService, tempNamespace, testKube, waitFor } from '@longshore/testbed/testing';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { checkClassPods } from '../src/pod-check.ts';
import { schedulerSettings } from '../src/settings.ts';

const env = readTestbedEnv();
const { core } = testKube();
let ns: Awaited<ReturnType<typeof tempNamespace>>;
const dir = mkdtempSync(join(tmpdir(), 'longshore-pod-check-'));
const prefix = `podcheck${randomBytes(3).toString('hex')}`;

beforeAll(async () => {
  ns = await tempNamespace(core, 'pod-check');
});
afterAll(async () => {
  await ns?.cleanup();
  rmSync(dir, { recursive: true, force: true });
  const nc = await connect({ servers: env.NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    for await (const name of jsm.streams.names())
      if (name.toLowerCase().includes(prefix)) await jsm.streams.delete(name);
  } finally {
    await nc.close();
  }
});

/** Three classes: one the apiserver takes, one with a misspelt field, one with a value it refuses. */
function config(namespace: string) {
  return {
    agent: {
      namespace,
      resourceClasses: {
        'acme/good': {
          token: 'token-good-1234',
          metadata: { labels: { team: 'ci' } },
          spec: {
            containers: [
              { resources: { limits: { cpu: '500m', memory: '1Gi' } }, imagePullPolicy: 'Always' },
            ],
            nodeSelector: { 'kubernetes.io/arch': 'amd64' },
            securityContext: { runAsNonRoot: true },
          },
        },
        'acme/typo': {
          token: 'token-typo-1234',
          spec: { containers: [{ resourcez: { limits: { cpu: '500m' } } }] },
        },
        'acme/invalid': {
          token: 'token-invalid-1234',
          spec: { containers: [{ imagePullPolicy: 'Sometimes' }] },
        },
      },
    },
    bus: { url: env.NATS_URL, prefix },
    redis: { url: env.REDIS_URL, keyPrefix: prefix },
    http: { host: '127.0.0.1', port: 0 },
  };
}

async function objectsIn(namespace: string): Promise<string[]> {
  const pods = await core.listNamespacedPod({ namespace });
  const secrets = await core.listNamespacedSecret({ namespace });
  return [...pods.items, ...secrets.items].map((o) => o.metadata?.name ?? '');
}

describe('pod check', () => {
  it('refuses a misspelt field and an invalid value with the field named, passes a good class, creates nothing', async () => {
    const cfg = parseConfig({
      schema: LongshoreConfig,
      text: stringify(config(ns.name)),
      source: 'pod-check.yaml',
      env: {},
    });
    const results = await checkClassPods({
      kc: loadKubeConfig({ kubeconfig: env.KUBECONFIG }),
      settings: schedulerSettings(cfg, 'pod-check-test', ns.name),
    });
    const byClass = Object.fromEntries(results.map((r) => [r.resourceClass, r]));
    expect(byClass['acme/good']).toMatchObject({ outcome: 'accepted', reason: '' });
    expect(byClass['acme/typo']).toMatchObject({ outcome: 'refused', field: 'spec.containers[0].resourcez' });
    expect(byClass['acme/typo']?.reason).toContain('unknown field "spec.containers[0].resourcez"');
    expect(byClass['acme/invalid']).toMatchObject({
      outcome: 'refused',
      field: 'spec.containers[0].imagePullPolicy',
    });
    expect(byClass['acme/invalid']?.reason).toMatch(
      /^the apiserver refused the task pod: .*Unsupported value/,
    );
    expect(await objectsIn(ns.name)).toEqual([]);
  });

  it('the scheduler stores every verdict in the pod-check bucket at start, and drops verdicts of classes it no longer has', async () => {
    const file = join(dir, 'config.yaml');
    const values = config(ns.name);
    writeFileSync(file, stringify(values));
    const bus = await connectBus({ servers: env.NATS_URL, prefix, name: `${prefix}-test` });
    const scheduler = spawnService('scheduler', {
      configFile: file,
      kubeconfig: env.KUBECONFIG,
      env: { LONGSHORE_INSTANCE: 'scheduler-under-test' },
    });
    try {
      const kv = await bus.kv(POD_CHECK_KV_BUCKET, PodCheckResult);
      const stale = {
        resource_class: 'acme/removed',
        at: new Date().toISOString(),
        outcome: 'refused' as const,
        reason: 'from an older config',
        fingerprint: '0'.repeat(64),
        runner: 'an-older-scheduler',
      };
      await kv.put(podCheckKey('acme/removed'), stale);
      const keys = ['acme/good', 'acme/typo', 'acme/invalid'].map(podCheckKey).sort();
      await waitFor(
        'the verdicts of all three classes, and none other',
        async () => JSON.stringify((await kv.keys()).sort()) === JSON.stringify(keys),
        { timeoutMs: 30_000 },
      ).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}\n${scheduler.tail()}`);
      });
      const cfg = parseConfig({ schema: LongshoreConfig, text: stringify(values), source: file, env: {} });
      const typo = (await kv.get(podCheckKey('acme/typo')))?.value;
      expect(typo).toMatchObject({
        resource_class: 'acme/typo',
        outcome: 'refused',
        field: 'spec.containers[0].resourcez',
        runner: 'scheduler-under-test',
        // What a claimer with the same config computes: the verdict is about its config.
        fingerprint: podCheckFingerprint(cfg.agent, 'acme/typo'),
      });
      expect((await kv.get(podCheckKey('acme/good')))?.value.outcome).toBe('accepted');
      expect(scheduler.logged('the task pod of acme/invalid is refused by the apiserver')).toBe(true);
      // The bucket and the log carry no token.
      for (const t of ['token-good-1234', 'token-typo-1234', 'token-invalid-1234'])
        expect(scheduler.lines.join('\n') + JSON.stringify(typo)).not.toContain(t);
      expect(await objectsIn(ns.name)).toEqual([]);
    } finally {
      await scheduler.stop();
      await bus.close({ graceMs: 1_000 });
    }
  });
});

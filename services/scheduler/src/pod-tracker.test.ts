import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { Bus } from '@longshore/bus';
import { Annotations, Labels, WARNINGS_ANNOTATION } from '@longshore/contracts';
import { PooledKubeConfig } from '@longshore/kube';
import type { ClaimLedger } from '@longshore/ledger';
import { createLogger } from '@longshore/logging';
import { afterEach, describe, expect, it } from 'vitest';
import { PodTracker, type PodTrackerDeps, warningsOf } from './pod-tracker.ts';
import type { SchedulerSettings } from './settings.ts';

const pod = (annotation?: string): V1Pod => ({
  metadata: { annotations: annotation === undefined ? {} : { [WARNINGS_ANNOTATION]: annotation } },
});

describe('warningsOf', () => {
  it("reads the builder's warnings back from the pod, for whichever announcement comes first", () => {
    expect(warningsOf(pod(JSON.stringify(['a', 'b'])))).toEqual(['a', 'b']);
    expect(warningsOf(pod('[]'))).toBeUndefined();
    expect(warningsOf(pod())).toBeUndefined();
  });

  it('says so when the annotation is not ours to read, without repeating it', () => {
    for (const bad of ['not json', '{"a":1}', '[1,2]'])
      expect(warningsOf(pod(bad))).toEqual([
        `the pod's ${WARNINGS_ANNOTATION} annotation is not a list of strings`,
      ]);
  });
});

/** A task pod whose job has ended well, as the watch lists it. */
const succeededPod = (name: string, uid: string, taskId: string): V1Pod => ({
  metadata: {
    name,
    namespace: 'tasks',
    uid,
    labels: { [Labels.attempt]: '1' },
    annotations: { [Annotations.taskId]: taskId, [Annotations.resourceClass]: 'acme/a' },
  },
  status: { phase: 'Succeeded' },
});

describe('PodTracker.stop', () => {
  let server: Server | undefined;
  let tracker: PodTracker | undefined;
  afterEach(async () => {
    await tracker?.stop();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r) ?? r(undefined));
    server = undefined;
    tracker = undefined;
  });

  /**
   * A loopback apiserver for the pod watch: the first list answers 503 (so the watch comes up
   * after a wait, and says so), the next lists hold `pods`, and watches stay open and silent.
   */
  async function fakeApiserver(
    pods: V1Pod[],
    onDelete: (path: string) => number = () => 200,
  ): Promise<KubeConfig> {
    let lists = 0;
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      res.setHeader('content-type', 'application/json');
      if (req.method === 'DELETE') {
        const code = onDelete(url.pathname);
        res.writeHead(code);
        res.end(
          JSON.stringify(
            code === 200
              ? { kind: 'Status', status: 'Success', code }
              : { kind: 'Status', status: 'Failure', code, reason: 'ServiceUnavailable', message: 'down' },
          ),
        );
        return;
      }
      if (url.searchParams.get('watch') === 'true') {
        res.writeHead(200);
        res.flushHeaders();
        return;
      }
      if (++lists === 1) {
        res.writeHead(503);
        res.end(
          JSON.stringify({
            kind: 'Status',
            code: 503,
            reason: 'ServiceUnavailable',
            message: 'etcd is down',
          }),
        );
        return;
      }
      res.writeHead(200);
      res.end(
        JSON.stringify({
          kind: 'PodList',
          apiVersion: 'v1',
          metadata: { resourceVersion: '1' },
          items: pods,
        }),
      );
    });
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
    const kc = new PooledKubeConfig();
    kc.loadFromOptions({
      clusters: [
        {
          name: 'c',
          server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          skipTLSVerify: true,
        },
      ],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    return kc;
  }

  /** A tracker of the namespace `tasks` on `kc`, with what a test changes in `deps`. */
  function trackerOn(kc: KubeConfig, deps: Partial<PodTrackerDeps>): PodTracker {
    return new PodTracker({
      kc,
      core: kc.makeApiClient(CoreV1Api),
      bus: {} as Bus,
      ledger: { mark: async () => undefined } as unknown as ClaimLedger,
      settings: {
        runnerName: 'scheduler-0',
        namespace: 'tasks',
        taskPod: { imagePullTimeout: 600_000, unschedulableTimeout: 600_000, keepFailedPods: false },
        resourceClasses: {},
      } as unknown as SchedulerSettings,
      logger: createLogger({ name: 'test', level: 'fatal' }),
      metrics: { ended: () => undefined },
      tickMs: 5,
      ...deps,
    });
  }

  it('leaves nothing running when it comes just as the watch comes up', async () => {
    const kc = await fakeApiserver([
      {
        metadata: {
          name: 'task-1',
          namespace: 'tasks',
          uid: 'uid-1',
          labels: { [Labels.attempt]: '1' },
          annotations: { [Annotations.taskId]: 't1', [Annotations.resourceClass]: 'acme/a' },
        },
        status: { phase: 'Pending' },
      },
    ]);
    // Redis is away: the first sight of the pod cannot be recorded, so every pass over the
    // cache tries again, and a pass after stop() shows up as one more try.
    let marks = 0;
    const ledger = {
      mark: async () => {
        marks++;
        throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
      },
    } as unknown as ClaimLedger;
    let stopping: Promise<void> | undefined;
    // The stop comes from the line saying the watch is up, the last moment before start()
    // goes on: a loop set up after that point is one stop() never saw.
    const destination = {
      write: (line: string) => {
        if (line.includes('is available')) stopping ??= tracker?.stop();
      },
    };
    tracker = trackerOn(kc, {
      ledger,
      logger: createLogger({ name: 'test', level: 'info', destination }),
      tickMs: 1,
    });
    await tracker.start();
    expect(stopping).toBeDefined();
    await stopping;
    const seen = marks;
    expect(seen).toBeGreaterThan(0);
    // Ample for many passes of a 1 ms loop that stop() missed.
    await new Promise((r) => setTimeout(r, 200));
    expect(marks).toBe(seen);
  });

  it('removes an ended pod and its Secret on a later pass when the apiserver refused the first delete', async () => {
    const deletes: string[] = [];
    const kc = await fakeApiserver([succeededPod('task-2', 'uid-2', 't2')], (path) => {
      deletes.push(path);
      // The first pod delete meets an apiserver that is away; every later call works.
      return deletes.filter((d) => d.includes('/pods/')).length === 1 && path.includes('/pods/') ? 503 : 200;
    });
    const published: string[] = [];
    tracker = trackerOn(kc, {
      bus: {
        publish: async (subject: { name: string }) => {
          published.push(subject.name);
          return { duplicate: false };
        },
      } as unknown as Bus,
    });
    await tracker.start();
    const podDeletes = () => deletes.filter((d) => d.endsWith('/pods/task-2')).length;
    for (let i = 0; i < 400 && podDeletes() < 2; i++) await new Promise((r) => setTimeout(r, 5));
    expect(podDeletes()).toBe(2);
    // Once removed, no pass deletes it again; the ending was published once.
    await new Promise((r) => setTimeout(r, 100));
    expect(podDeletes()).toBe(2);
    expect(deletes.filter((d) => d.endsWith('/secrets/task-2')).length).toBeGreaterThanOrEqual(1);
    expect(published.filter((s) => s === 'task.reported')).toHaveLength(1);
  });

  it('leaves an ended pod to the replica whose ending the stream kept, and removes it itself only if it outlives the standby', async () => {
    const deletes: string[] = [];
    const kc = await fakeApiserver([succeededPod('task-3', 'uid-3', 't3')], (path) => {
      deletes.push(path);
      return 200;
    });
    let published = 0;
    tracker = trackerOn(kc, {
      // Another replica published the ending first: this one's publish is the duplicate.
      bus: {
        publish: async (subject: { name: string }) => {
          if (subject.name === 'task.reported') published++;
          return { duplicate: true };
        },
      } as unknown as Bus,
      standbyRemovalMs: 400,
    });
    const started = Date.now();
    await tracker.start();
    for (let i = 0; i < 400 && published === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(published).toBe(1);
    // Many passes of the 5 ms loop, none of them due yet.
    await new Promise((r) => setTimeout(r, 100));
    if (Date.now() - started < 400) expect(deletes).toEqual([]);
    // The other replica never removed it (this fake's pod stays): this one stands in.
    const podDeletes = () => deletes.filter((d) => d.endsWith('/pods/task-3')).length;
    for (let i = 0; i < 400 && podDeletes() === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(podDeletes()).toBe(1);
    expect(deletes.filter((d) => d.endsWith('/secrets/task-3'))).toHaveLength(1);
  });

  it('times the stages from the annotations, once per task across replicas: the replica whose event the stream kept', async () => {
    const meta = (name: string, uid: string) => ({
      name,
      namespace: 'tasks',
      uid,
      labels: { [Labels.attempt]: '1' },
      annotations: {
        [Annotations.taskId]: name,
        [Annotations.resourceClass]: 'acme/a',
        [Annotations.claimedAt]: new Date(Date.now() - 10_000).toISOString(),
        [Annotations.launchedAt]: new Date(Date.now() - 8_000).toISOString(),
      },
    });
    const kc = await fakeApiserver([
      { metadata: meta('run-1', 'u-run'), status: { phase: 'Running' } },
      {
        metadata: meta('done-1', 'u-done'),
        status: {
          phase: 'Succeeded',
          containerStatuses: [
            {
              name: 'primary',
              image: 'x',
              imageID: '',
              ready: false,
              restartCount: 0,
              state: { terminated: { exitCode: 0, startedAt: new Date(Date.now() - 5_000) } },
            },
          ],
        },
      },
      // Another replica's event was kept for this one: nothing is timed here.
      { metadata: meta('dup-1', 'u-dup'), status: { phase: 'Succeeded' } },
    ]);
    const seen: [string, string, number][] = [];
    tracker = trackerOn(kc, {
      bus: {
        publish: async (_s: unknown, payload: { task_id: string }) => ({
          duplicate: payload.task_id === 'dup-1',
        }),
      } as unknown as Bus,
      metrics: {
        ended: () => undefined,
        stages: {
          observe: (stage, rc, from, to = Date.now()) => {
            const f = typeof from === 'string' ? Date.parse(from) : (from ?? Number.NaN);
            seen.push([stage, rc, (to - f) / 1000]);
          },
        },
      },
    });
    await tracker.start();
    for (let i = 0; i < 400 && seen.length < 4; i++) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
    // The first list waits out a 503 (about a second): each stage is its offset plus that wait.
    const got = Object.fromEntries(seen.map(([stage, rc, sec]) => [stage, { rc, sec }]));
    expect(Object.keys(got).sort()).toEqual(['cleaned_up', 'end_to_end', 'ended', 'running']);
    expect(seen.every(([, rc]) => rc === 'acme/a')).toBe(true);
    const wait = got.end_to_end!.sec - 10; // claimed -> cleaned up
    expect(wait).toBeGreaterThanOrEqual(0);
    expect(got.running!.sec - wait).toBeCloseTo(8, 0); // launched -> seen running
    expect(got.ended!.sec - wait).toBeCloseTo(5, 0); // never seen running here: from the container's start
    expect(got.cleaned_up!.sec).toBeCloseTo(0, 0);
  });
});

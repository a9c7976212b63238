// The container runner end to end, judged by the simulator's task history and the
// apiserver, not by our own counters.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Fleet } from '@longshore/testbed/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { fleetStatus } from './status.ts';

let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
});

const claimsOf = (t: { history: { type: string }[] }) => t.history.filter((e) => e.type === 'claimed').length;

describe('claimer + scheduler', () => {
  it('runs 50 tasks over two classes exactly once each, and leaves no pod or Secret behind', async () => {
    fleet = await Fleet.start({
      classes: {
        'e2e/small': { token: 'tok-small-000001' },
        'e2e/arm': { token: 'tok-arm-0000001', spec: { nodeSelector: { 'kubernetes.io/arch': 'arm64' } } },
      },
    });
    fleet.spawn('scheduler');
    fleet.spawn('claimer');
    const ids = [
      ...(await fleet.admin.enqueueMany(
        { resource_class: 'e2e/small', image: 'fate.test/succeed:300ms' },
        25,
      )),
      ...(await fleet.admin.enqueueMany({ resource_class: 'e2e/arm', image: 'fate.test/succeed:300ms' }, 25)),
    ];
    const tasks = await fleet.waitForTasksEnded(ids);
    expect(tasks.map((t) => t.state)).toEqual(ids.map(() => 'completed'));
    expect(tasks.map(claimsOf)).toEqual(ids.map(() => 1));
    await fleet.waitFor('task pods and Secrets to be removed', async () => {
      const o = await fleet!.taskObjects();
      return o.pods.length === 0 && o.secrets.length === 0 ? o : undefined;
    });
    // Every task's story is on the bus.
    for (const name of ['task.claimed', 'task.scheduled', 'task.running', 'task.reported']) {
      expect(new Set(fleet.events$(name).map((e) => e.payload.task_id)).size, name).toBe(50);
    }
  });

  it('never holds more than maxConcurrentTasks claimed-and-unfinished tasks', async () => {
    fleet = await Fleet.start({
      classes: { 'e2e/a': { token: 'tok-a-00000001' }, 'e2e/b': { token: 'tok-b-00000001' } },
      maxConcurrentTasks: 5,
    });
    fleet.spawn('scheduler');
    fleet.spawn('claimer');
    const ids = [
      ...(await fleet.admin.enqueueMany({ resource_class: 'e2e/a', image: 'fate.test/succeed:500ms' }, 10)),
      ...(await fleet.admin.enqueueMany({ resource_class: 'e2e/b', image: 'fate.test/succeed:500ms' }, 10)),
    ];
    const tasks = await fleet.waitForTasksEnded(ids);
    // Replay the simulator's history: +1 at each claim, -1 at each completion.
    const moments = tasks.flatMap((t) =>
      t.history.flatMap((e) =>
        e.type === 'claimed'
          ? [{ at: e.at, d: 1 }]
          : e.type === 'completed' || e.type === 'failed'
            ? [{ at: e.at, d: -1 }]
            : [],
      ),
    );
    moments.sort((x, y) => x.at.localeCompare(y.at) || x.d - y.d);
    let open = 0;
    let peak = 0;
    for (const m of moments) {
      open += m.d;
      peak = Math.max(peak, open);
    }
    expect(peak).toBeLessThanOrEqual(5);
    expect(peak).toBeGreaterThan(1);
  });

  it('fails a task whose job fails, and reports a task the pod could not: orchestrator exit, image pull, no node', async () => {
    fleet = await Fleet.start({
      classes: {
        'e2e/ok': { token: 'tok-ok-0000001' },
        'e2e/nowhere': { token: 'tok-nowhere-01', spec: { nodeSelector: { disktype: 'nvme-missing' } } },
      },
    });
    fleet.spawn('scheduler');
    fleet.spawn('claimer');
    const jobFail = await fleet.admin.enqueue({
      resource_class: 'e2e/ok',
      image: 'fate.test/job-fail:300ms',
    });
    const exit = await fleet.admin.enqueue({ resource_class: 'e2e/ok', image: 'fate.test/exit-3:300ms' });
    const pull = await fleet.admin.enqueue({ resource_class: 'e2e/ok', image: 'fate.test/pull-fail' });
    const nowhere = await fleet.admin.enqueue({ resource_class: 'e2e/nowhere', image: 'cimg/base:2024.01' });
    const svc = await fleet.admin.enqueue({
      resource_class: 'e2e/ok',
      image: 'fate.test/succeed:300ms',
      service_containers: [{ image: 'cimg/postgres:16.0', environment: { POSTGRES_PASSWORD: 'pw' } }],
    });
    const [tJob, tExit, tPull, tNowhere, tSvc] = await fleet.waitForTasksEnded([
      jobFail,
      exit,
      pull,
      nowhere,
      svc,
    ]);
    // The job's failure is the task agent's to report; its orchestrator then exits 0.
    expect(tJob!.state).toBe('failed');
    expect(tJob!.history.filter((e) => e.type === 'failed')).toEqual([
      expect.objectContaining({ source: 'report' }),
    ]);
    // An orchestrator that exits non-zero could not report: the runner does.
    expect(tExit!.state).toBe('failed');
    expect(tExit!.history.at(-1)).toMatchObject({
      source: 'fail-event',
      message: expect.stringContaining('code 3'),
    });
    expect(tPull!.state).toBe('failed');
    expect(tPull!.history.at(-1)).toMatchObject({ message: expect.stringContaining('ErrImagePull') });
    expect(tNowhere!.state).toBe('failed');
    expect(tNowhere!.history.at(-1)).toMatchObject({
      message: expect.stringContaining('could not be scheduled'),
    });
    expect(tSvc!.state).toBe('completed');
    // Only the endings the pod could not report are reported by the runner: one fail event each.
    expect(tExit!.history.filter((e) => e.type === 'failed')).toHaveLength(1);
    // The simulator counts a request once its answer has gone out (onResponse), after the
    // fail event ended the task: the last one can be counted a moment later.
    const stats = await fleet.waitFor('the 3 fail events counted', async () => {
      const s = await fleet!.admin.stats();
      return (s.requests.fail?.['200'] ?? 0) >= 3 ? s : undefined;
    });
    expect(stats.requests.fail).toEqual({ '200': 3 });
  });

  it('never claims for a class whose pod the apiserver refuses, and says why on the class', async () => {
    fleet = await Fleet.start({
      classes: {
        'e2e/bad': {
          token: 'tok-bad-0000001',
          spec: { containers: [{ resources: { limits: { cpu: 'lots' } } }] },
        },
        'e2e/good': { token: 'tok-good-000001' },
      },
    });
    const f = fleet;
    f.spawn('scheduler');
    f.spawn('claimer');
    const bad = await f.admin.enqueue({ resource_class: 'e2e/bad', image: 'fate.test/succeed:300ms' });
    const good = await f.admin.enqueue({ resource_class: 'e2e/good', image: 'fate.test/succeed:300ms' });
    // The scheduler's dry run refuses the class's pod before any claim: its task is never
    // claimed (it was claimed and failed before), while the other class runs.
    await f.waitForTasksEnded([good]);
    const status = await f.waitFor('the refusal in longshore status', async () => {
      const row = (await fleetStatus(f)).classes.find((r) => r.resource_class === 'e2e/bad');
      return row?.pod_check?.outcome === 'refused' ? row : undefined;
    });
    expect(status.enabled).toBe(false);
    expect(status.reason).toContain('quantities must match the regular expression');
    expect((await f.admin.task(bad)).state).toBe('queued');
    expect(f.events$('task.claimed').map((e) => e.payload.task_id)).toEqual([good]);
    // The scheduler removes a task's pod and Secret once it has seen the pod end and
    // published the ending: a moment after the API knows the task ended.
    const o = await f.waitFor('the task pod and Secret removed', async () => {
      const left = await f.taskObjects();
      return left.pods.length + left.secrets.length === 0 ? left : undefined;
    });
    expect(o.pods.length + o.secrets.length).toBe(0);
  });

  it('autodetectPlatform: places a task pod on nodes its image can run on, as its registry says', async () => {
    // A registry on loopback (a server we do not own, so a stand-in) with an arm64-only image.
    const registry = createServer((_req, res) => {
      res.setHeader('content-type', 'application/vnd.oci.image.index.v1+json');
      res.end(JSON.stringify({ manifests: [{ platform: { os: 'linux', architecture: 'arm64' } }] }));
    });
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
    const image = `127.0.0.1:${(registry.address() as AddressInfo).port}/demo/arm-only:1`;
    try {
      fleet = await Fleet.start({ classes: { 'e2e/any': { token: 'tok-any-0000001' } } });
      fleet.spawn('scheduler');
      fleet.spawn('claimer');
      const ids = await fleet.admin.enqueueMany({ resource_class: 'e2e/any', image }, 3);
      const tasks = await fleet.waitForTasksEnded(ids);
      expect(tasks.map((t) => t.state)).toEqual(['completed', 'completed', 'completed']);
      const nodes = fleet.events$('task.running').map((e) => String(e.payload.node));
      expect(nodes).toHaveLength(3);
      for (const n of nodes) expect(n).toMatch(/^kwok-arm64-/);
    } finally {
      registry.close();
    }
  });
});

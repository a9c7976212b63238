// The simulator as what runs in a task pod (CircleCI's orchestrator and task agent): it
// reports a task's end from the task pod, authorised by the token in the pod's Secret, as
// the orchestrator would before exiting 0, and nothing where the orchestrator could not.
import {
  GOAT_CONFIG_ENV,
  GOAT_CONFIG_SECRET_KEY,
  type GoatConfig,
  Labels,
  MANAGED_BY,
  PRIMARY_CONTAINER,
  TaskConfig,
} from '@longshore/contracts';
import { tempNamespace, testKube } from '@longshore/testbed/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSim, SimAdminClient, startSim } from '../src/index.ts';
import { bearer, call, claim } from './runner-calls.ts';

const RC = 'sim-agent/small';
const RC_TOKEN = 'rc-token-agent-test-000';
const { kc, core } = testKube();
let ns: Awaited<ReturnType<typeof tempNamespace>>;
let sim: RunningSim;

beforeAll(async () => {
  ns = await tempNamespace(core, 'sim-agent');
});
afterAll(async () => {
  await ns.cleanup();
});
afterEach(async () => {
  await sim?.close();
});

/** Claims the next task and creates its Secret and Pod, as a runner's scheduler would. */
async function runAsPod(
  image: string,
  opts: { secretLabelled?: boolean } = {},
): Promise<{ taskId: string; pod: string }> {
  const claimed = await claim(sim.url, bearer(RC_TOKEN));
  expect(claimed.status).toBe(200);
  const token = (claimed.json as { task_token: string }).task_token;
  const allocation = (claimed.json as { allocation: string }).allocation;
  const cfg = TaskConfig.parse((await call(sim.url, '/api/v2/task/config', { headers: bearer(token) })).json);
  const name = `t-${cfg.task_id.slice(0, 8)}`;
  const goat: GoatConfig = {
    cmd: [],
    user: '',
    task_id: cfg.task_id,
    readiness_file_path: '',
    enable_unsafe_retries: false,
    token,
    task_agent_path: '/opt/circleci/bin/circleci-agent',
    runner_api_base_url: sim.url,
    allocation,
    ssh_advertise_addr: '',
    max_run_time: 60e9,
  };
  const labels = { [Labels.managedBy]: MANAGED_BY };
  await core.createNamespacedSecret({
    namespace: ns.name,
    body: {
      metadata: { name, ...(opts.secretLabelled === false ? {} : { labels }) },
      stringData: { [GOAT_CONFIG_SECRET_KEY]: JSON.stringify(goat) },
    },
  });
  await core.createNamespacedPod({
    namespace: ns.name,
    body: {
      metadata: { name, labels },
      spec: {
        restartPolicy: 'Never',
        containers: [
          {
            name: PRIMARY_CONTAINER,
            image,
            env: [
              { name: GOAT_CONFIG_ENV, valueFrom: { secretKeyRef: { name, key: GOAT_CONFIG_SECRET_KEY } } },
            ],
          },
        ],
      },
    },
  });
  return { taskId: cfg.task_id, pod: name };
}

async function waitForState(admin: SimAdminClient, id: string, states: string[], ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const t = await admin.task(id);
    if (states.includes(t.state) || Date.now() > deadline) return t;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the simulator playing the task agent', () => {
  it('has the agent settings from the moment it sees the pod, so a Secret deleted when the pod ends cannot lose the report', async () => {
    sim = await startSim({ classes: { [RC]: [RC_TOKEN] }, agent: { kc, namespace: ns.name } });
    const admin = new SimAdminClient(sim.url);
    await admin.enqueue({ resource_class: RC, image: 'fate.test/succeed:3s' });
    // Unlabelled: the simulator's Secret watch never sees it (as when that watch lags after an
    // apiserver restart); the Secret is then gone before container 0 ends, as the runner
    // deletes it the moment the pod ends, a read at the end would find nothing.
    const t = await runAsPod('fate.test/succeed:3s', { secretLabelled: false });
    const deadline = Date.now() + 20_000;
    while ((await core.readNamespacedPod({ name: t.pod, namespace: ns.name })).status?.phase !== 'Running') {
      if (Date.now() > deadline) throw new Error('the pod never ran');
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 500)); // the reporter has seen the pod: it is running
    await core.deleteNamespacedSecret({ name: t.pod, namespace: ns.name });
    expect((await waitForState(admin, t.taskId, ['completed', 'failed'])).state).toBe('completed');
  });

  it('plays the task agent: a job that passed or failed is reported from the pod, whose container 0 exits 0', async () => {
    sim = await startSim({ classes: { [RC]: [RC_TOKEN] }, agent: { kc, namespace: ns.name } });
    const admin = new SimAdminClient(sim.url);
    await admin.enqueue({ resource_class: RC, image: 'fate.test/succeed:200ms' });
    await admin.enqueue({ resource_class: RC, image: 'fate.test/job-fail:200ms' });
    const ok = await runAsPod('fate.test/succeed:200ms');
    const bad = await runAsPod('fate.test/job-fail:200ms');

    const okTask = await waitForState(admin, ok.taskId, ['completed', 'failed']);
    expect(okTask.state).toBe('completed');
    const badTask = await waitForState(admin, bad.taskId, ['completed', 'failed']);
    expect(badTask.state).toBe('failed');
    expect(badTask.history.at(-1)).toMatchObject({ type: 'failed', source: 'report' });
    const pod = await core.readNamespacedPod({ name: bad.pod, namespace: ns.name });
    expect(pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(0);
  });

  it('plays the orchestrator: fails the task when the agent errs, gives it back when the agent cannot start, and reports nothing when it exits non-zero', async () => {
    sim = await startSim({ classes: { [RC]: [RC_TOKEN] }, agent: { kc, namespace: ns.name } });
    const admin = new SimAdminClient(sim.url);
    await admin.enqueue({ resource_class: RC, image: 'fate.test/agent-error:200ms' });
    await admin.enqueue({ resource_class: RC, image: 'fate.test/agent-start-fail:200ms' });
    await admin.enqueue({ resource_class: RC, image: 'fate.test/exit-4:200ms' });
    const erred = await runAsPod('fate.test/agent-error:200ms');
    const noStart = await runAsPod('fate.test/agent-start-fail:200ms');
    const exited = await runAsPod('fate.test/exit-4:200ms');

    const erredTask = await waitForState(admin, erred.taskId, ['completed', 'failed']);
    expect(erredTask.history.at(-1)).toMatchObject({
      type: 'failed',
      source: 'fail-event',
      message: expect.stringContaining('task agent exited with an error'),
    });
    const givenBack = await waitForState(admin, noStart.taskId, ['queued']);
    expect(givenBack.history.at(-1)).toMatchObject({ type: 'unclaimed', unclaims: 1 });

    const deadline = Date.now() + 20_000;
    while (
      (await core.readNamespacedPod({ name: exited.pod, namespace: ns.name })).status?.phase !== 'Failed'
    ) {
      if (Date.now() > deadline) throw new Error('pod never exited');
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 500));
    expect((await admin.task(exited.taskId)).state).toBe('claimed');
  });

  it('reports nothing for an evicted pod: that ending is the runner’s to handle', async () => {
    sim = await startSim({ classes: { [RC]: [RC_TOKEN] }, agent: { kc, namespace: ns.name } });
    const admin = new SimAdminClient(sim.url);
    await admin.enqueue({ resource_class: RC, image: 'fate.test/evict:200ms' });
    const evicted = await runAsPod('fate.test/evict:200ms');
    const deadline = Date.now() + 20_000;
    while (
      (await core.readNamespacedPod({ name: evicted.pod, namespace: ns.name })).status?.phase !== 'Failed'
    ) {
      if (Date.now() > deadline) throw new Error('pod never evicted');
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 500));
    expect((await admin.task(evicted.taskId)).state).toBe('claimed');
  });

  it('ignores a leftover pod of an earlier claim: its token no longer authorises a report', async () => {
    sim = await startSim({ classes: { [RC]: [RC_TOKEN] }, agent: { kc, namespace: ns.name } });
    const admin = new SimAdminClient(sim.url);
    await admin.enqueue({ resource_class: RC, image: 'fate.test/succeed:1s' });
    const first = await runAsPod('fate.test/succeed:1s');
    const stale = (await core.readNamespacedSecret({ name: first.pod, namespace: ns.name })).data?.[
      GOAT_CONFIG_SECRET_KEY
    ];
    const staleToken = (JSON.parse(Buffer.from(stale!, 'base64').toString()) as GoatConfig).token;
    expect(
      (
        await call(sim.url, '/api/v3/runner/unclaim', {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...bearer(staleToken) },
          body: JSON.stringify({ task_id: first.taskId, task_token: staleToken }),
        })
      ).status,
    ).toBe(200);
    expect((await claim(sim.url, bearer(RC_TOKEN))).status).toBe(200);

    const deadline = Date.now() + 20_000;
    while (
      (await core.readNamespacedPod({ name: first.pod, namespace: ns.name })).status?.phase !== 'Succeeded'
    ) {
      if (Date.now() > deadline) throw new Error('pod never finished');
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 500));
    const task = await admin.task(first.taskId);
    expect(task.state).toBe('claimed');
    expect(task.history.filter((e) => e.type === 'claimed')).toHaveLength(2);
  });
});

// The test bed's promise: a pod's fate, chosen by its image, is played out by kwok through
// the real apiserver and kube-scheduler (testbed/kwok/stages.yaml).
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simplePod, tempNamespace, testKube, waitForPod } from '../src/testing/index.ts';

const { core } = testKube();
let ns: Awaited<ReturnType<typeof tempNamespace>>;

beforeAll(async () => {
  ns = await tempNamespace(core, 'fates');
});
afterAll(async () => {
  await ns.cleanup();
});

const phase = (want: string) => (p: V1Pod) => p.status?.phase === want;
const c0 = (p: V1Pod) => p.status?.containerStatuses?.find((c) => c.name === 'container-0');

describe('kwok pod fates', () => {
  it('schedules a pod onto a kwok node, runs it and lets it succeed', async () => {
    await core.createNamespacedPod({ namespace: ns.name, body: simplePod('ok', 'fate.test/succeed:500ms') });
    const running = await waitForPod(core, ns.name, 'ok', phase('Running'));
    expect(running.spec?.nodeName).toMatch(/^kwok-/);
    expect(running.status?.initContainerStatuses?.[0]?.state?.terminated?.reason).toBe('Completed');
    const done = await waitForPod(core, ns.name, 'ok', phase('Succeeded'));
    expect(c0(done)?.state?.terminated?.exitCode).toBe(0);
  });

  it('runs an ordinary image for a second and succeeds', async () => {
    await core.createNamespacedPod({ namespace: ns.name, body: simplePod('plain', 'cimg/base:2024.01') });
    await waitForPod(core, ns.name, 'plain', phase('Succeeded'));
  });

  it('fails a pod with the exit code named in its image', async () => {
    await core.createNamespacedPod({ namespace: ns.name, body: simplePod('bad', 'fate.test/exit-3:300ms') });
    const done = await waitForPod(core, ns.name, 'bad', phase('Failed'));
    expect(c0(done)?.state?.terminated?.exitCode).toBe(3);
    expect(c0(done)?.state?.terminated?.reason).toBe('Error');
  });

  it('evicts a running pod the way a kubelet does', async () => {
    await core.createNamespacedPod({
      namespace: ns.name,
      body: simplePod('evicted', 'fate.test/evict:300ms'),
    });
    const done = await waitForPod(core, ns.name, 'evicted', phase('Failed'));
    expect(done.status?.reason).toBe('Evicted');
    const disruption = done.status?.conditions?.find((c) => c.type === 'DisruptionTarget');
    expect(disruption).toMatchObject({ status: 'True', reason: 'TerminationByKubelet' });
  });

  it('marks a preempted pod with the scheduler as the disruption', async () => {
    await core.createNamespacedPod({
      namespace: ns.name,
      body: simplePod('preempted', 'fate.test/preempt:300ms'),
    });
    const done = await waitForPod(core, ns.name, 'preempted', phase('Failed'));
    expect(done.status?.conditions?.find((c) => c.type === 'DisruptionTarget')?.reason).toBe(
      'PreemptionByScheduler',
    );
  });

  it('leaves a pod whose image cannot be pulled Pending with ErrImagePull', async () => {
    await core.createNamespacedPod({ namespace: ns.name, body: simplePod('nopull', 'fate.test/pull-fail') });
    const p = await waitForPod(
      core,
      ns.name,
      'nopull',
      (x) => c0(x)?.state?.waiting?.reason === 'ErrImagePull',
    );
    expect(p.status?.phase).toBe('Pending');
  });

  it('fails a hanging pod at its activeDeadlineSeconds', async () => {
    await core.createNamespacedPod({
      namespace: ns.name,
      body: simplePod('slow', 'fate.test/hang', { activeDeadlineSeconds: 2 }),
    });
    const done = await waitForPod(core, ns.name, 'slow', phase('Failed'), 20_000);
    expect(done.status?.reason).toBe('DeadlineExceeded');
  });

  it('never schedules a pod whose nodeSelector matches no node', async () => {
    await core.createNamespacedPod({
      namespace: ns.name,
      body: simplePod('nowhere', 'cimg/base:2024.01', {
        nodeSelector: { disktype: 'nvme-that-does-not-exist' },
      }),
    });
    const p = await waitForPod(core, ns.name, 'nowhere', (x) =>
      (x.status?.conditions ?? []).some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable'),
    );
    expect(p.spec?.nodeName).toBeUndefined();
  });

  it('places pods by arch, ssd label and spot taint toleration, as a real scheduler does', async () => {
    await core.createNamespacedPod({
      namespace: ns.name,
      body: simplePod('arm', 'fate.test/hang', { nodeSelector: { 'kubernetes.io/arch': 'arm64' } }),
    });
    await core.createNamespacedPod({
      namespace: ns.name,
      body: simplePod('ssd', 'fate.test/hang', { nodeSelector: { disktype: 'ssd' } }),
    });
    await core.createNamespacedPod({
      namespace: ns.name,
      body: simplePod('spot', 'fate.test/hang', {
        nodeSelector: { lifecycle: 'Ec2Spot' },
        tolerations: [{ key: 'lifecycle', operator: 'Equal', value: 'Ec2Spot', effect: 'NoExecute' }],
      }),
    });
    await core.createNamespacedPod({
      namespace: ns.name,
      body: simplePod('spot-untolerated', 'fate.test/hang', { nodeSelector: { lifecycle: 'Ec2Spot' } }),
    });
    expect((await waitForPod(core, ns.name, 'arm', phase('Running'))).spec?.nodeName).toMatch(/^kwok-arm64-/);
    expect((await waitForPod(core, ns.name, 'ssd', phase('Running'))).spec?.nodeName).toBe('kwok-ssd-0');
    expect((await waitForPod(core, ns.name, 'spot', phase('Running'))).spec?.nodeName).toBe('kwok-spot-0');
    await waitForPod(core, ns.name, 'spot-untolerated', (x) =>
      (x.status?.conditions ?? []).some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable'),
    );
  });

  it('removes a deleted pod, as a kubelet confirms the kill', async () => {
    await core.createNamespacedPod({ namespace: ns.name, body: simplePod('doomed', 'fate.test/hang') });
    await waitForPod(core, ns.name, 'doomed', phase('Running'));
    await core.deleteNamespacedPod({ name: 'doomed', namespace: ns.name });
    const deadline = Date.now() + 20_000;
    let gone = false;
    while (!gone && Date.now() < deadline) {
      gone = await core.readNamespacedPod({ name: 'doomed', namespace: ns.name }).then(
        () => false,
        (e: { code?: number }) => e.code === 404,
      );
      if (!gone) await new Promise((r) => setTimeout(r, 100));
    }
    expect(gone).toBe(true);
  });
});

describe('a fate that depends on the attempt', () => {
  it('evicts evict-first on a task’s first attempt only', async () => {
    const attempt = (n: string) => ({ metadata: { labels: { 'longshore.io/attempt': n } } });
    const first = simplePod('spot-1', 'fate.test/evict-first:300ms');
    first.metadata = { ...first.metadata, ...attempt('1').metadata };
    const second = simplePod('spot-2', 'fate.test/evict-first:300ms');
    second.metadata = { ...second.metadata, ...attempt('2').metadata };
    await core.createNamespacedPod({ namespace: ns.name, body: first });
    await core.createNamespacedPod({ namespace: ns.name, body: second });
    expect((await waitForPod(core, ns.name, 'spot-1', phase('Failed'))).status?.reason).toBe('Evicted');
    await waitForPod(core, ns.name, 'spot-2', phase('Succeeded'));
  });
});

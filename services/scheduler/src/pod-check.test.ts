import { LongshoreConfig, parseConfig } from '@longshore/config';
import { Annotations } from '@longshore/contracts';
import { PooledKubeConfig } from '@longshore/kube';
import { describe, expect, it } from 'vitest';
import { INIT_CONTAINER, LOGGING_CONTAINER } from './pod-builder.ts';
import { checkClassPod, SAMPLE_TASK_ID, samplePods, verdictOfRefusal } from './pod-check.ts';
import { schedulerSettings } from './settings.ts';

function settingsOf(yaml: string) {
  const cfg = parseConfig({ schema: LongshoreConfig, text: yaml, source: 'values.yaml', env: {} });
  return schedulerSettings(cfg, 'scheduler-0', 'tasks');
}

const CLASSES = `
agent:
  resourceClasses:
    acme/typo:
      token: t1
      metadata: {labels: {team: ci}}
      spec:
        containers:
          - resourcez: {limits: {cpu: "1"}}
        nodeSelector: {kubernetes.io/arch: amd64}
`;

describe('samplePods', () => {
  it("builds a class's pods as the launcher would, without and with a service container, user fields as written", () => {
    const [plain, withService] = samplePods('acme/typo', settingsOf(CLASSES));
    expect(plain?.shape).toBe('task pod');
    expect(withService?.shape).toBe('task pod with a service container');
    const pod = plain!.pod;
    expect(pod.metadata?.namespace).toBe('tasks');
    expect(pod.metadata?.labels?.team).toBe('ci');
    expect(pod.metadata?.annotations?.[Annotations.taskId]).toBe(SAMPLE_TASK_ID);
    expect(pod.metadata?.name).toMatch(/-0$/);
    // The misspelt field reaches the apiserver, where strict validation refuses it.
    expect(pod.spec?.containers[0]).toMatchObject({ resourcez: { limits: { cpu: '1' } } });
    expect(pod.spec?.nodeSelector).toEqual({ 'kubernetes.io/arch': 'amd64' });
    expect(pod.spec?.initContainers?.[0]?.name).toBe(INIT_CONTAINER);
    // autodetectPlatform is on by default: its affinity is in the sample too.
    expect(pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution).toBeDefined();
    expect(pod.spec?.containers.map((c) => c.name)).toEqual(['container-0']);
    expect(withService!.pod.spec?.containers.map((c) => c.name)).toEqual([
      'container-0',
      'postgres',
      LOGGING_CONTAINER,
    ]);
  });
});

describe('verdictOfRefusal', () => {
  // Status bodies as kube-apiserver 1.34 answers a dry-run create (captured on the test bed).
  it('names the unknown field of a strict decoding error', () => {
    expect(
      verdictOfRefusal(400, {
        code: 400,
        reason: 'BadRequest',
        message:
          'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.containers[0].resourcez"',
      }),
    ).toEqual({
      outcome: 'refused',
      field: 'spec.containers[0].resourcez',
      reason: 'strict decoding error: unknown field "spec.containers[0].resourcez"',
    });
  });

  it('names the field of a value of the wrong type', () => {
    expect(
      verdictOfRefusal(400, {
        code: 400,
        reason: 'BadRequest',
        message:
          'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string into Go struct field PodSpec.spec.nodeSelector of type map[string]string',
      }),
    ).toMatchObject({ outcome: 'refused', field: 'spec.nodeSelector' });
  });

  it("names the first invalid field of an Invalid answer, in the apiserver's words without the sample's name", () => {
    const message =
      'Pod "lsta-0123456789ab-0" is invalid: spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"';
    expect(
      verdictOfRefusal(422, {
        code: 422,
        reason: 'Invalid',
        message,
        details: {
          name: 'lsta-0123456789ab-0',
          kind: 'Pod',
          causes: [
            {
              reason: 'FieldValueNotSupported',
              message: 'Unsupported value: "Sometimes"',
              field: 'spec.containers[0].imagePullPolicy',
            },
          ],
        },
      }),
    ).toEqual({
      outcome: 'refused',
      field: 'spec.containers[0].imagePullPolicy',
      reason:
        'spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"',
    });
  });

  it('refuses on an admission policy, and leaves the pod unchecked when a webhook cannot take dry runs', () => {
    expect(
      verdictOfRefusal(403, {
        code: 403,
        reason: 'Forbidden',
        message:
          'pods "lsta-0123456789ab-0" is forbidden: violates PodSecurity "restricted:latest": privileged',
      }),
    ).toEqual({
      outcome: 'refused',
      reason: 'forbidden: violates PodSecurity "restricted:latest": privileged',
    });
    expect(
      verdictOfRefusal(400, {
        code: 400,
        reason: 'BadRequest',
        message: 'admission webhook "sidecar.example.com" does not support dry run',
      }),
    ).toEqual({
      outcome: 'unchecked',
      reason: 'admission webhook "sidecar.example.com" does not support dry run',
    });
    expect(verdictOfRefusal(404, undefined)).toEqual({ outcome: 'refused', reason: 'HTTP 404' });
  });
});

describe('checkClassPod', () => {
  it('refuses a class no pod can be built from, naming its config key, without asking the apiserver', async () => {
    const settings = settingsOf(`
agent:
  resourceClasses:
    acme/reserved:
      token: t1
      spec:
        volumes: [{name: circleci-bin, emptyDir: {}}]
`);
    // Nothing listens there: a request would fail the test with a connection error.
    const kc = new PooledKubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'http://127.0.0.1:9', skipTLSVerify: true }],
      users: [{ name: 'u', token: 'x' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const r = await checkClassPod({ kc, settings }, 'acme/reserved');
    expect(r).toMatchObject({
      resourceClass: 'acme/reserved',
      outcome: 'refused',
      field: 'agent.resourceClasses["acme/reserved"].spec.volumes[0].name',
    });
    expect(r.reason).toContain('reserved for a volume the runner adds');
    expect(r.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });
});

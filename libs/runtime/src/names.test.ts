import { describe, expect, it } from 'vitest';
import { serviceNames } from './names.ts';

describe('serviceNames', () => {
  it('in a pod of the chart: the pod name tells replicas apart, agent.name or the Deployment names the runner', () => {
    const env = { LONGSHORE_INSTANCE: 'ls-claimer-7d9f-abcde', LONGSHORE_DEPLOYMENT: 'ls-claimer' };
    expect(serviceNames('', env, 'ls-claimer-7d9f-abcde')).toEqual({
      instance: 'ls-claimer-7d9f-abcde',
      runnerName: 'ls-claimer',
    });
    // Two replicas with the same agent.name keep their own identities.
    const a = serviceNames('acme-runner', env, 'h');
    const b = serviceNames('acme-runner', { ...env, LONGSHORE_INSTANCE: 'ls-claimer-7d9f-fghij' }, 'h');
    expect([a.runnerName, b.runnerName]).toEqual(['acme-runner', 'acme-runner']);
    expect(a.instance).not.toBe(b.instance);
  });

  it('elsewhere: the host name for both, unless set', () => {
    expect(serviceNames('', {}, 'laptop')).toEqual({ instance: 'laptop', runnerName: 'laptop' });
    expect(serviceNames('  ', { LONGSHORE_INSTANCE: ' ', LONGSHORE_DEPLOYMENT: '' }, 'laptop')).toEqual({
      instance: 'laptop',
      runnerName: 'laptop',
    });
  });
});

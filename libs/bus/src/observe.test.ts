import { describe, expect, it } from 'vitest';
import { busSubjectLabel } from './observe.ts';

describe('busSubjectLabel', () => {
  it('is a registered subject without the prefix', () => {
    expect(busSubjectLabel('tenant-a', 'tenant-a.task.claimed')).toBe('task.claimed');
    expect(busSubjectLabel('longshore', 'longshore.constraints.status')).toBe('constraints.status');
  });

  it('is kv.<bucket> for a KV value, without its key (a task or class name)', () => {
    expect(busSubjectLabel('tenant-a', 'kv.tenant-a_pod-checks.org/class.v2')).toBe('kv.pod-checks');
  });

  it('is other for a subject that is not ours: anyone may publish anything under the prefix', () => {
    expect(busSubjectLabel('tenant-a', 'tenant-a.task.made-up-123')).toBe('other');
    expect(busSubjectLabel('tenant-a', 'tenant-b.task.claimed')).toBe('other');
    expect(busSubjectLabel('tenant-a', 'kv.tenant-b_pod-checks.x')).toBe('other');
  });
});

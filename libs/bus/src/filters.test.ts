import { Subjects } from '@longshore/contracts';
import { describe, expect, it } from 'vitest';
import { BusSetupError } from './errors.ts';
import { filterSubjectFor, relativeFilter } from './filters.ts';

describe('filterSubjectFor', () => {
  it('uses the exact subject for one definition (or the same one twice)', () => {
    expect(filterSubjectFor('ls', [Subjects.taskClaimed])).toBe('ls.task.claimed');
    expect(filterSubjectFor('ls', [Subjects.taskClaimed, Subjects.taskClaimed])).toBe('ls.task.claimed');
  });

  it('uses the narrowest common wildcard for several', () => {
    expect(filterSubjectFor('ls', [Subjects.taskClaimed, Subjects.taskInterrupted])).toBe('ls.task.>');
    expect(filterSubjectFor('ls', [Subjects.taskClaimed, Subjects.gcSwept])).toBe('ls.>');
  });

  it('never narrows to a wildcard that misses one of the names', () => {
    const a = { ...Subjects.taskClaimed, name: 'task' };
    expect(filterSubjectFor('ls', [a, Subjects.taskClaimed])).toBe('ls.>');
    const b = { ...Subjects.taskClaimed, name: 'a.b.c' };
    const c = { ...Subjects.taskClaimed, name: 'a.b.d' };
    expect(filterSubjectFor('ls', [b, c])).toBe('ls.a.b.>');
  });

  it('rejects an empty list and a bad prefix', () => {
    expect(() => filterSubjectFor('ls', [])).toThrow(BusSetupError);
    expect(() => filterSubjectFor('a.b', [Subjects.taskClaimed])).toThrow(/prefix/);
  });
});

describe('relativeFilter', () => {
  it('puts the prefix in front of a valid filter', () => {
    expect(relativeFilter('ls', '>')).toBe('ls.>');
    expect(relativeFilter('ls', 'task.>')).toBe('ls.task.>');
    expect(relativeFilter('ls', '*.claimed')).toBe('ls.*.claimed');
    expect(relativeFilter('ls', 'task.claimed')).toBe('ls.task.claimed');
  });

  it.each(['', 'task.', '.task', 'a..b', '>.a', 'ta*sk', 'a b'])('rejects %j', (f) => {
    expect(() => relativeFilter('ls', f)).toThrow(BusSetupError);
  });
});

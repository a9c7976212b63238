import { describe, expect, it } from 'vitest';
import { DEFAULT_PHASES, PHASES, parseOptions, SCALE_IDLE_WAITS } from './options.ts';

describe('parseOptions', () => {
  it('runs the standard phases at the standard size by default', () => {
    const o = parseOptions([]);
    if (o === 'help') throw new Error('help');
    expect(o.phases).toEqual([...DEFAULT_PHASES]);
    expect(o).toMatchObject({ tasks: 1000, classes: 4, nodes: 100, concurrency: 20, firstTasks: 0 });
    expect(o.idleWaits).toEqual([]);
  });

  it("--scale is issue 18's run: every phase, 10000 tasks after 1000, 20 classes and machine classes", () => {
    const o = parseOptions(['--scale']);
    if (o === 'help') throw new Error('help');
    expect(o.phases).toEqual([...PHASES]);
    expect(o).toMatchObject({
      tasks: 10_000,
      firstTasks: 1000,
      classes: 20,
      nodes: 500,
      concurrency: 100,
      machineClasses: 20,
    });
    expect(o.idleWaits).toEqual(SCALE_IDLE_WAITS);
  });

  it('lets an option given with a preset win over the preset', () => {
    const o = parseOptions(['--scale', '--tasks', '2000', '--only', 'longshore', '--idle-waits', '']);
    if (o === 'help') throw new Error('help');
    expect(o).toMatchObject({ tasks: 2000, phases: ['longshore'], idleWaits: [] });
  });

  it('refuses what it cannot run, naming the option', () => {
    expect(() => parseOptions(['--quick', '--scale'])).toThrow(/choose one/);
    expect(() => parseOptions(['--idle-waits', '1s'])).toThrow(/--idle-waits: 1s is not <first>:<max>/);
    expect(() => parseOptions(['--only', 'fast'])).toThrow(/unknown phase fast/);
    expect(() => parseOptions(['--machine-classes', '0'])).toThrow(/--machine-classes must be/);
  });
});

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { block } from './blocks.ts';
import { duration, optionalDuration } from './duration.ts';
import { caseInsensitivePattern, inputJsonSchema, PatternError } from './json-schema.ts';

describe('caseInsensitivePattern', () => {
  it.each([
    ['^[a-z0-9][a-z0-9_-]*\\/[a-z]$', '^[a-zA-Z0-9][a-zA-Z0-9_-]*\\/[a-zA-Z]$'],
    ['^ab\\d$', '^[aA][bB]\\d$'],
    ['^[x_]$', '^[xX_]$'],
  ])('%s becomes %s', (source, want) => {
    expect(caseInsensitivePattern(source)).toBe(want);
    const re = new RegExp(want);
    const flagged = new RegExp(source, 'i');
    for (const s of ['AB1', 'ab1', 'Org/Rc', 'org/rc', 'X', 'Ab5']) expect(re.test(s)).toBe(flagged.test(s));
  });

  it('refuses a negated class, which the other case would widen', () => {
    expect(() => caseInsensitivePattern('^[^a-z]$')).toThrow(PatternError);
  });
});

describe('inputJsonSchema', () => {
  const schema = inputJsonSchema(
    block(
      {
        name: z.string().regex(/^[a-z]+$/i),
        count: z.int().min(1).default(3),
        wait: duration({ allowZero: false }).prefault('1m'),
        idle: optionalDuration(),
        note: z.string().optional(),
        extra: z.record(z.string(), z.unknown()).default({}),
      },
      { unknownKeys: 'strict' },
    ),
  );
  const props = schema.properties as Record<string, Record<string, unknown>>;

  it('describes durations as Go duration strings, optional ones also empty or null', () => {
    expect(props.wait).toMatchObject({ type: 'string', default: '1m' });
    const wait = new RegExp(props.wait?.pattern as string);
    expect(['5h5m', '1.5s', '0', '300ms'].every((s) => wait.test(s))).toBe(true);
    expect(['15', '5x', ''].some((s) => wait.test(s))).toBe(false);
    expect(props.idle?.type).toEqual(['string', 'null']);
    expect(new RegExp(props.idle?.pattern as string).test('')).toBe(true);
  });

  it('lets null through where a block takes it as unset, and keeps scalars with defaults to one type', () => {
    expect(props.note?.type).toEqual(['string', 'null']);
    expect(props.extra?.type).toEqual(['object', 'null']);
    expect(props.count).toEqual({ type: 'integer', minimum: 1, default: 3 });
  });

  it('spells a case-insensitive regex without the flag, and drops the safe-integer bounds', () => {
    expect(props.name).toEqual({ type: 'string', pattern: '^[a-zA-Z]+$' });
    expect(JSON.stringify(schema)).not.toContain(String(Number.MAX_SAFE_INTEGER));
  });
});

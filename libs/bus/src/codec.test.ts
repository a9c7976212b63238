import { Subjects } from '@longshore/contracts';
import { describe, expect, it } from 'vitest';
import { decodePayload, encodePayload } from './codec.ts';
import { BusSecretError, BusValidationError } from './errors.ts';

const ended = {
  task_id: 't1',
  resource_class: 'org/rc',
  attempt: 1,
  runner: 'r1',
  at: '2026-01-01T00:00:00.000Z',
  reason: 'evicted',
};
const bytes = (s: string) => new TextEncoder().encode(s);

describe('encodePayload', () => {
  it('sends the schema output: defaults applied, unknown keys dropped', () => {
    const out = encodePayload(Subjects.taskInterrupted.schema, 'p.task.interrupted', { ...ended, extra: 1 });
    expect(JSON.parse(new TextDecoder().decode(out))).toEqual({ ...ended, to_retry: false });
  });

  it('throws BusValidationError naming the paths', () => {
    const err = (() => {
      try {
        encodePayload(Subjects.taskInterrupted.schema, 'p.task.interrupted', {
          ...ended,
          attempt: 0,
          reason: 'nope',
        });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(BusValidationError);
    expect((err as BusValidationError).issues.map((i) => i.split(':')[0])).toEqual(['attempt', 'reason']);
  });

  it('refuses secret-like keys even though the schema would strip them, without echoing values', () => {
    const call = () =>
      encodePayload(Subjects.taskInterrupted.schema, 'p.task.interrupted', {
        ...ended,
        task_token: 'sekrit',
      });
    expect(call).toThrow(BusSecretError);
    expect(call).toThrow(/task_token/);
    expect(call).not.toThrow(/sekrit/);
  });
});

describe('decodePayload', () => {
  it('accepts a valid payload', () => {
    const d = decodePayload(Subjects.taskInterrupted.schema, bytes(JSON.stringify(ended)));
    expect(d).toEqual({ ok: true, payload: { ...ended, to_retry: false } });
  });

  it('reports non-JSON and invalid UTF-8 as not-json', () => {
    expect(decodePayload(Subjects.taskClaimed.schema, bytes('not json'))).toMatchObject({
      ok: false,
      reason: 'not-json',
    });
    expect(decodePayload(Subjects.taskClaimed.schema, Uint8Array.of(0xff, 0xfe))).toMatchObject({
      reason: 'not-json',
    });
    expect(decodePayload(Subjects.taskClaimed.schema, new Uint8Array())).toMatchObject({
      reason: 'not-json',
    });
  });

  it('reports wrong shapes by path and code only', () => {
    const d = decodePayload(Subjects.taskClaimed.schema, bytes(JSON.stringify({ ...ended, allocation: 42 })));
    expect(d).toEqual({ ok: false, reason: 'invalid', issues: ['allocation (invalid_type)'] });
  });
});

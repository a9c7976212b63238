import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redactPaths } from './logger.ts';
import { SecretScrubber } from './scrubber.ts';

/** A destination that keeps each written line, parsed. */
function memory() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { stream, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('createLogger', () => {
  it('writes JSON with the service name and level', () => {
    const out = memory();
    const log = createLogger({ name: 'claimer', level: 'debug', destination: out.stream });
    log.debug({ task_id: 't1' }, 'claimed');
    expect(out.records()[0]).toMatchObject({ name: 'claimer', level: 20, task_id: 't1', msg: 'claimed' });
  });

  it('redacts secret-bearing keys at any reasonable depth', () => {
    const out = memory();
    const log = createLogger({ name: 't', destination: out.stream });
    log.info(
      {
        token: 'a',
        task_token: 'b',
        circleToken: 'c',
        req: { headers: { authorization: 'Bearer d', 'Circle-Token': 'e', 'circle-token': 'f' } },
        headers: { Authorization: 'Bearer g' },
        cfg: { agent: { resourceClasses: { 'a/b': { token: 'h' } } } },
        claims: [{ task_token: 'i' }],
        db: { password: 'j' },
        resource_class: 'a/b',
      },
      'request',
    );
    const line = out.lines[0] ?? '';
    for (const v of ['"a"', '"b"', '"c"', 'Bearer', '"e"', '"f"', '"h"', '"i"', '"j"'])
      expect(line).not.toContain(v);
    expect(out.records()[0]).toMatchObject({
      token: '[redacted]',
      req: {
        headers: { authorization: '[redacted]', 'Circle-Token': '[redacted]', 'circle-token': '[redacted]' },
      },
      cfg: { agent: { resourceClasses: { 'a/b': { token: '[redacted]' } } } },
      claims: [{ task_token: '[redacted]' }],
      resource_class: 'a/b',
    });
  });

  it('removes registered secret values from messages, errors and child bindings', () => {
    const out = memory();
    const scrubber = new SecretScrubber();
    const log = createLogger({ name: 't', destination: out.stream, scrubber });
    scrubber.add('tok_1234567890');
    const child = log.child({ note: 'uses tok_1234567890' });
    child.error(
      { err: new Error('claim failed with tok_1234567890'), nested: { x: ['tok_1234567890'] } },
      'with tok_1234567890',
    );
    const line = out.lines[0] ?? '';
    expect(line).not.toContain('tok_1234567890');
    const rec = out.records()[0] ?? {};
    expect(rec.msg).toBe('with [redacted]');
    expect(rec.note).toBe('uses [redacted]');
    expect(rec.err).toMatchObject({ message: 'claim failed with [redacted]' });
    expect(rec.nested).toEqual({ x: ['[redacted]'] });
  });

  it('stops scrubbing a value once it is unregistered', () => {
    const out = memory();
    const scrubber = new SecretScrubber();
    const log = createLogger({ name: 't', destination: out.stream, scrubber });
    scrubber.add('task-token-abcdef');
    log.info('a task-token-abcdef');
    scrubber.delete('task-token-abcdef');
    log.info('b task-token-abcdef');
    expect(out.records().map((r) => r.msg)).toEqual(['a [redacted]', 'b task-token-abcdef']);
  });
});

describe('redactPaths', () => {
  it('covers each key from the top level down, quoting keys that are not identifiers', () => {
    expect(redactPaths(['token', 'circle-token'], 2)).toEqual([
      'token',
      '*.token',
      '*.*.token',
      '["circle-token"]',
      '*["circle-token"]',
      '*.*["circle-token"]',
    ]);
  });
});

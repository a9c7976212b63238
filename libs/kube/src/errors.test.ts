import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  isAlreadyExists,
  isConflict,
  isGone,
  isInvalid,
  isNotFound,
  kubeErrorMessage,
  kubeStatusOf,
  statusCodeOf,
} from './errors.ts';

/** As client-node 2.x throws them: the Status as JSON text in `body`. */
function apiError(code: number, status?: Record<string, unknown>): ApiException<unknown> {
  const body =
    status === undefined
      ? undefined
      : JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, ...status });
  return new ApiException(code, 'Unknown API Status Code!', body, { 'content-type': 'application/json' });
}

const notFound = apiError(404, { reason: 'NotFound', message: 'pods "lsta-abc-1" not found' });
const exists = apiError(409, { reason: 'AlreadyExists', message: 'pods "lsta-abc-1" already exists' });
const conflict = apiError(409, {
  reason: 'Conflict',
  message: 'Operation cannot be fulfilled on pods "lsta-abc-1": the object has been modified',
});
const invalid = apiError(422, {
  reason: 'Invalid',
  message: 'Pod "lsta-abc-1" is invalid: spec.containers[0].image: Required value',
  details: {
    name: 'lsta-abc-1',
    kind: 'Pod',
    causes: [{ reason: 'FieldValueRequired', field: 'spec.containers[0].image' }],
  },
});

describe('statusCodeOf', () => {
  it('reads ApiException codes, watch errors and plain errors', () => {
    expect(statusCodeOf(notFound)).toBe(404);
    expect(statusCodeOf(new ApiException(401, 'Unauthorized', undefined, {}))).toBe(401);
    expect(statusCodeOf(Object.assign(new Error('Gone'), { statusCode: 410 }))).toBe(410);
    expect(
      statusCodeOf(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
    ).toBeUndefined();
    expect(statusCodeOf('nope')).toBeUndefined();
    expect(statusCodeOf(undefined)).toBeUndefined();
  });
});

describe('outcome predicates', () => {
  it('tells NotFound, AlreadyExists, Conflict, Invalid and Gone apart', () => {
    expect([isNotFound(notFound), isAlreadyExists(notFound), isConflict(notFound)]).toEqual([
      true,
      false,
      false,
    ]);
    expect([isAlreadyExists(exists), isConflict(exists)]).toEqual([true, false]);
    expect([isAlreadyExists(conflict), isConflict(conflict)]).toEqual([false, true]);
    expect(isInvalid(invalid)).toBe(true);
    expect(isGone(Object.assign(new Error('Gone'), { statusCode: 410 }))).toBe(true);
    expect(isNotFound(new Error('boom'))).toBe(false);
  });

  it('accepts a body that is already an object', () => {
    const e = new ApiException(409, 'x', { kind: 'Status', code: 409, reason: 'AlreadyExists' }, {});
    expect(isAlreadyExists(e)).toBe(true);
  });

  it('falls back to the message for a 409 without a reason', () => {
    expect(isAlreadyExists(apiError(409, { message: 'secrets "s" already exists' }))).toBe(true);
    expect(isConflict(apiError(409))).toBe(true);
  });
});

describe('kubeStatusOf', () => {
  it('parses the Status out of the body text', () => {
    expect(kubeStatusOf(invalid)).toMatchObject({ code: 422, reason: 'Invalid', details: { kind: 'Pod' } });
    expect(kubeStatusOf(new ApiException(502, 'x', '<html>bad gateway</html>', {}))).toBeUndefined();
    expect(kubeStatusOf(new Error('x'))).toBeUndefined();
  });
});

describe('kubeErrorMessage', () => {
  it("gives the apiserver's message for a rejected pod", () => {
    expect(kubeErrorMessage(invalid)).toBe(
      'Pod "lsta-abc-1" is invalid: spec.containers[0].image: Required value',
    );
  });

  it('gives the HTTP status when there is no Status body', () => {
    expect(kubeErrorMessage(new ApiException(401, 'Unauthorized', undefined, {}))).toBe(
      'HTTP 401 Unauthorized',
    );
    expect(kubeErrorMessage(new ApiException(502, 'x', '<html>bad gateway</html>', {}))).toBe(
      'HTTP 502 Bad Gateway: <html>bad gateway</html>',
    );
  });

  it("uses other errors' own message", () => {
    expect(kubeErrorMessage(new Error('connect ECONNREFUSED 127.0.0.1:6443'))).toBe(
      'connect ECONNREFUSED 127.0.0.1:6443',
    );
    expect(kubeErrorMessage('weird')).toBe('weird');
  });
});

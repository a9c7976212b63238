// Small pieces both route files share: request parsing that answers 400 with a readable
// message, credential headers, and the mapping of state refusals to HTTP statuses.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Refusal, RefusalReason } from './sim-state.ts';

/** A request the simulator refuses; `statusCode` is what fastify's error handler answers. */
export class RequestError extends Error {
  override name = 'RequestError';
  readonly statusCode: number;

  constructor(statusCode: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.statusCode = statusCode;
  }
}

/** Validates `value` or throws a 400 that names every failing field. */
export function parseOr400<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map(
    (i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`,
  );
  throw new RequestError(400, `invalid ${what}: ${issues.join('; ')}`, { cause: result.error });
}

/** The token of `Authorization: Bearer <token>`, if the header is that. */
function bearerOf(request: FastifyRequest): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
}

/** The resource class token of a claim; 401 when missing or malformed. */
export function bearerToken(request: FastifyRequest): string {
  const token = bearerOf(request);
  if (token === undefined) throw new RequestError(401, 'missing or malformed Authorization: Bearer header');
  return token;
}

/**
 * The task token of a task-scoped call (task config, unclaim, fail), from `Authorization:
 * Bearer`. CircleCI's fake Runner API (runner-init, internal/testing/fakerunnerapi) answers
 * a missing or malformed one 404, as it does a token it does not know; so do we.
 */
export function taskBearer(request: FastifyRequest): string {
  const token = bearerOf(request);
  if (token === undefined) throw new RequestError(404, 'missing or malformed Authorization: Bearer header');
  return token;
}

/** The `Circle-Token` header; 401 when missing. */
export function circleToken(request: FastifyRequest): string {
  const value = request.headers['circle-token'];
  const token = (Array.isArray(value) ? value[0] : value)?.trim();
  if (token === undefined || token === '') throw new RequestError(401, 'missing Circle-Token header');
  return token;
}

const REFUSAL_STATUS: Record<RefusalReason, number> = {
  forbidden: 403,
  'unknown-token': 404,
  'bad-request': 400,
  'not-found': 404,
  cancelled: 404,
  'retries-exhausted': 409,
  conflict: 409,
};

export function sendRefusal(reply: FastifyReply, refusal: Refusal): FastifyReply {
  return reply.code(REFUSAL_STATUS[refusal.reason]).send({ message: refusal.message });
}

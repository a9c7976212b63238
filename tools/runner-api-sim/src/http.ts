// The simulator's HTTP face: the CircleCI-compatible Runner API (with fault injection and
// request counting on each endpoint), health probes, and the admin API from admin-http.ts.
// Check order on every Runner API call: fault, credentials, body (400), state rules. The
// claim answers a missing class token 401 and an unknown one 403; the task-scoped calls
// (task config, unclaim, fail) answer a missing or unknown task token 404, as CircleCI's
// fake Runner API does (runner-init, internal/testing/fakerunnerapi).
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClaimRequest, FailEvent, RunnerApiPaths, UnclaimRequest } from '@longshore/contracts';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RouteShorthandOptions,
} from 'fastify';
import { z } from 'zod';
import { registerAdminRoutes } from './admin-http.ts';
import { dribbled, generatedBody } from './fault-bodies.ts';
import type { Dribble, FaultBook, FaultEndpoint, FaultResponse } from './faults.ts';
import {
  bearerToken,
  circleToken,
  parseOr400,
  RequestError,
  sendRefusal,
  taskBearer,
} from './http-support.ts';
import type { SimState } from './sim-state.ts';
import type { RequestStats } from './stats.ts';

export interface SimParts {
  state: SimState;
  faults: FaultBook;
  stats: RequestStats;
}

export interface SimAppOptions {
  /** A pino-compatible logger; without one (and without `logLevel`) the app does not log. */
  logger?: FastifyBaseLogger;
  /** Use fastify's own pino at this level (headers redacted) when no `logger` is given. */
  logLevel?: string;
}

const CountQuery = z.object({ 'resource-class': z.string().min(1) });

// Tokens travel in these headers; fastify's default serializers do not log headers, and
// this keeps it so if someone adds a serializer that does.
const REDACT = ['req.headers.authorization', 'req.headers["circle-token"]'];

export function buildSimApp(parts: SimParts, options: SimAppOptions = {}): FastifyInstance {
  const app: FastifyInstance =
    options.logger !== undefined
      ? Fastify({ loggerInstance: options.logger })
      : Fastify({
          logger: options.logLevel === undefined ? false : { level: options.logLevel, redact: REDACT },
        });

  // Aborted on close, so requests sleeping on a latency fault do not hold shutdown up.
  const closing = new AbortController();
  app.addHook('preClose', async () => closing.abort());
  // Node closes only the connections idle when close starts; one busy then would be kept
  // alive (72 s by default) after its answer, holding close up that long.
  app.addHook('onSend', async (_request, reply) => {
    if (closing.signal.aborted) reply.header('connection', 'close');
  });

  app.setErrorHandler((error: unknown, request, reply) => {
    const status = statusOf(error);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    const message = status < 500 && error instanceof Error ? error.message : 'internal error';
    return reply.code(status).send({ message });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ message: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );

  app.get('/livez', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => ({ status: 'ok' }));

  registerRunnerApi(app, parts, closing.signal);
  registerAdminRoutes(app, parts);
  return app;
}

function registerRunnerApi(
  app: FastifyInstance,
  { state, faults, stats }: SimParts,
  closing: AbortSignal,
): void {
  /** Requests a dribble fault chose, for onSend to slow their answer down. */
  const dribbles = new WeakMap<FastifyRequest, Dribble>();
  const on = (endpoint: FaultEndpoint): RouteShorthandOptions => ({
    onRequest: async (request: FastifyRequest, reply: FastifyReply) => {
      const decision = faults.decide(endpoint);
      if (decision.delayMs > 0) {
        await sleep(decision.delayMs, undefined, { signal: closing }).catch(() => undefined);
      }
      if (decision.dribble !== undefined) dribbles.set(request, decision.dribble);
      const fault = decision.response;
      if (fault === undefined) return;
      // Answering from the hook skips the handler: a faulted request changes no state.
      return sendFault(reply, fault);
    },
    onSend: async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      const dribble = dribbles.get(request);
      return dribble === undefined ? payload : dribbledPayload(reply, payload, dribble, closing);
    },
    onResponse: async (_request: FastifyRequest, reply: FastifyReply) => {
      stats.record(endpoint, reply.statusCode);
    },
  });

  app.post(RunnerApiPaths.claim, on('claim'), async (request, reply) => {
    const token = bearerToken(request);
    const runner = parseOr400(ClaimRequest, request.body, 'claim request body');
    const outcome = state.claim(token, runner);
    if (!outcome.ok) return sendRefusal(reply, outcome);
    if (outcome.served === undefined) return reply.code(204).send();
    return outcome.served;
  });

  app.get(RunnerApiPaths.taskConfig, on('taskConfig'), async (request, reply) => {
    const outcome = state.taskConfig(taskBearer(request));
    return outcome.ok ? outcome.served : sendRefusal(reply, outcome);
  });

  app.post(RunnerApiPaths.unclaim, on('unclaim'), async (request, reply) => {
    // The bearer names the task; the body's task_token is required but, as in CircleCI's
    // fake, not compared with it.
    const token = taskBearer(request);
    const body = parseOr400(UnclaimRequest, request.body, 'unclaim request body');
    const outcome = state.unclaim(body.task_id, token);
    return outcome.ok ? {} : sendRefusal(reply, outcome);
  });

  app.post(RunnerApiPaths.fail, on('fail'), async (request, reply) => {
    const token = taskBearer(request);
    const event = parseOr400(FailEvent, request.body, 'fail event body');
    const outcome = state.fail(token, event);
    return outcome.ok ? {} : sendRefusal(reply, outcome);
  });

  const countRoute = (endpoint: 'unclaimedCount' | 'runningCount') =>
    app.get(RunnerApiPaths[endpoint], on(endpoint), async (request) => {
      if (!state.isApiToken(circleToken(request))) throw new RequestError(403, 'Circle-Token not accepted');
      const resourceClass = parseOr400(CountQuery, request.query, 'query')['resource-class'];
      return endpoint === 'unclaimedCount'
        ? { unclaimed_task_count: state.unclaimedCount(resourceClass) }
        : { running_runner_tasks: state.runningCount(resourceClass) };
    });
  countRoute('unclaimedCount');
  countRoute('runningCount');
}

function sendFault(reply: FastifyReply, fault: FaultResponse): FastifyReply {
  switch (fault.kind) {
    case 'status':
      return reply.code(fault.status).send({ message: `injected fault: status ${fault.status}` });
    case 'rate-limit':
      reply.code(429).header('retry-after', String(fault.retryAfterS));
      return reply.send({ message: 'injected fault: rate limited' });
    case 'garbage':
      return reply.code(200).header('content-type', fault.body.contentType).send(fault.body.body);
    case 'respond': {
      reply.code(fault.status).header('content-type', fault.contentType);
      const { body } = fault;
      if (typeof body === 'string') {
        // A string gets its Content-Length from fastify; a stream goes chunked.
        return reply.send(fault.contentLength ? body : Readable.from([Buffer.from(body)]));
      }
      if (fault.contentLength) reply.header('content-length', String(body.bytes));
      return reply.send(Readable.from(generatedBody(body.bytes, fault.contentType)));
    }
  }
}

/**
 * The answer about to go out, as a stream that trickles. A whole body keeps the
 * Content-Length it would have had; a streamed one (a `respond` fault's) keeps its headers.
 */
function dribbledPayload(
  reply: FastifyReply,
  payload: unknown,
  dribble: Dribble,
  closing: AbortSignal,
): unknown {
  if (typeof payload === 'string' || Buffer.isBuffer(payload)) {
    if (payload.length === 0) return payload;
    reply.header('content-length', String(Buffer.byteLength(payload)));
    return Readable.from(dribbled([payload], dribble, closing));
  }
  if (payload instanceof Readable) return Readable.from(dribbled(payload, dribble, closing));
  return payload;
}

function statusOf(error: unknown): number {
  const code = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' && code >= 400 && code <= 599 ? code : 500;
}

// The admin API under /sim: what tests, benchmarks and `docker compose` users drive the
// simulator with. No auth (a dev tool), but no response ever echoes a resource class token
// or the API token; tokens only go in.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  ApiTokenRequest,
  EnqueueRequest,
  RegisterClassRequest,
  ReportRequest,
  TaskListQuery,
} from './admin-schemas.ts';
import { FaultRules } from './faults.ts';
import type { SimParts } from './http.ts';
import { parseOr400, RequestError, sendRefusal } from './http-support.ts';

const TaskParams = z.object({ id: z.string().min(1) });

export const ENQUEUE_BODY_LIMIT = 64 * 1024 * 1024;

export function registerAdminRoutes(app: FastifyInstance, { state, faults, stats }: SimParts): void {
  app.post('/sim/resource-classes', async (request, reply) => {
    const { name, tokens } = parseOr400(RegisterClassRequest, request.body, 'resource class');
    const outcome = state.registerClass(name, tokens);
    return outcome.ok ? { name, token_count: tokens.length } : sendRefusal(reply, outcome);
  });

  app.get('/sim/resource-classes', async () => ({ resource_classes: state.classNames() }));

  app.put('/sim/api-token', async (request) => {
    state.setApiToken(parseOr400(ApiTokenRequest, request.body, 'api token').token);
    return {};
  });

  // Overrides may be big on purpose (a 1 MB environment, 500 containers): more than
  // fastify's default 1 MiB body limit.
  app.post('/sim/tasks', { bodyLimit: ENQUEUE_BODY_LIMIT }, async (request, reply) => {
    const { count, ...spec } = parseOr400(EnqueueRequest, request.body, 'task');
    const outcome = state.enqueue(spec, count ?? 1);
    if (!outcome.ok) return sendRefusal(reply, outcome);
    reply.code(201);
    return count === undefined ? { task_id: outcome.taskIds[0] } : { task_ids: outcome.taskIds };
  });

  app.get('/sim/tasks', async (request) => ({
    tasks: state.listTasks(parseOr400(TaskListQuery, request.query, 'query')),
  }));

  app.get('/sim/tasks/:id', async (request) => {
    const { id } = parseOr400(TaskParams, request.params, 'path');
    const task = state.task(id);
    if (task === undefined) throw new RequestError(404, `no task ${id}`);
    return task;
  });

  app.post('/sim/tasks/:id/cancel', async (request, reply) => {
    const outcome = state.cancel(parseOr400(TaskParams, request.params, 'path').id);
    return outcome.ok ? {} : sendRefusal(reply, outcome);
  });

  app.post('/sim/tasks/:id/report', async (request, reply) => {
    const { id } = parseOr400(TaskParams, request.params, 'path');
    const body = parseOr400(ReportRequest, request.body, 'report');
    const outcome = state.report(id, body.task_token, body.status, body.message);
    return outcome.ok ? {} : sendRefusal(reply, outcome);
  });

  app.get('/sim/faults', async () => ({ rules: faults.list() }));
  app.put('/sim/faults', async (request) => {
    faults.replace(parseOr400(FaultRules, request.body, 'fault rules').rules);
    return { rules: faults.list() };
  });
  app.delete('/sim/faults', async () => {
    faults.clear();
    return { rules: [] };
  });

  app.get('/sim/stats', async () => ({ ...stats.snapshot(), tasks: state.taskCounts() }));

  app.post('/sim/reset', async () => {
    state.reset();
    faults.clear();
    stats.reset();
    return {};
  });
}

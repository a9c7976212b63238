// The simulator's whole world in memory: resource classes and their tokens, the queue per
// class, and every task's state and history. Every rule of the Runner API is decided here,
// each operation in one synchronous method, so two requests can never interleave inside a
// state change (two racing claims cannot get the same task). HTTP only maps the outcomes.
import { randomBytes, randomUUID } from 'node:crypto';
import type { ClaimRequest, ClaimResponse, FailEvent, TaskConfig } from '@longshore/contracts';
import type { TaskListQuery, TaskSpec, TaskState } from './admin-schemas.ts';
import {
  type Claim,
  describe,
  type ServedTaskConfig,
  servedTaskConfig,
  servedTaskId,
  summarize,
  type TaskDetail,
  type TaskEventBody,
  type TaskRecord,
  type TaskSummary,
  taskConfigOf,
} from './task.ts';

/** After this many unclaims a task's retries are exhausted: unclaim answers 409. */
export const MAX_UNCLAIMS = 3;

/**
 * Why the state refused a call; http-support.ts maps each to a status. `unknown-token` is a
 * task token the API does not know (never issued, or let go by unclaim or the claim lease):
 * CircleCI's fake Runner API answers it 404, as it does a missing one.
 */
export type RefusalReason =
  | 'forbidden'
  | 'unknown-token'
  | 'bad-request'
  | 'not-found'
  | 'cancelled'
  | 'retries-exhausted'
  | 'conflict';
export interface Refusal {
  ok: false;
  reason: RefusalReason;
  /** Safe to show to the caller: never contains a token. */
  message: string;
}
export type Outcome<T extends object = object> = ({ ok: true } & T) | Refusal;

export interface SimStateOptions {
  /** Resource class name -> its tokens. */
  classes?: Record<string, readonly string[]>;
  /** The `Circle-Token` the count endpoints accept; without one they refuse everyone. */
  apiToken?: string;
  /** `agent_version` in claim responses. */
  agentVersion?: string;
  now?: () => Date;
  newId?: () => string;
  newSecret?: () => string;
}

export type TaskCounts = Record<TaskState, number>;

/** Never names the token: a refusal's message goes back to the caller and into logs. */
const UNKNOWN_TOKEN = 'task token not recognised';

const refuse = (reason: RefusalReason, message: string): Refusal => ({ ok: false, reason, message });

export class SimState {
  readonly agentVersion: string;
  #apiToken: string | undefined;
  readonly #now: () => Date;
  readonly #newId: () => string;
  readonly #newSecret: () => string;
  /** token -> resource class name */
  readonly #classTokens = new Map<string, string>();
  readonly #queues = new Map<string, string[]>();
  readonly #running = new Map<string, Set<string>>();
  readonly #tasks = new Map<string, TaskRecord>();
  /** task token -> task id. Unclaim removes the entry, which is what invalidates a token. */
  readonly #taskTokens = new Map<string, string>();
  /**
   * Served task id -> ids of the tasks serving it, for tasks whose `config_override` sets
   * one: a runner names a task by the id it was served (several tasks may share an odd one).
   */
  readonly #servedIds = new Map<string, string[]>();

  constructor(options: SimStateOptions = {}) {
    this.agentVersion = options.agentVersion ?? '1.0.0-sim';
    this.#apiToken = options.apiToken;
    this.#now = options.now ?? (() => new Date());
    this.#newId = options.newId ?? randomUUID;
    this.#newSecret = options.newSecret ?? (() => randomBytes(24).toString('base64url'));
    for (const [name, tokens] of Object.entries(options.classes ?? {})) {
      const outcome = this.registerClass(name, tokens);
      if (!outcome.ok) throw new SimStateError(outcome.message);
    }
  }

  // --- configuration -------------------------------------------------------------------

  /** Adds a class or more tokens to it. A token can belong to one class only. */
  registerClass(name: string, tokens: readonly string[]): Outcome {
    for (const token of tokens) {
      const owner = this.#classTokens.get(token);
      if (owner !== undefined && owner !== name) {
        return refuse('conflict', `a token given for ${name} already belongs to ${owner}`);
      }
    }
    for (const token of tokens) this.#classTokens.set(token, name);
    if (!this.#queues.has(name)) this.#queues.set(name, []);
    if (!this.#running.has(name)) this.#running.set(name, new Set());
    return { ok: true };
  }

  classNames(): string[] {
    return [...this.#queues.keys()];
  }

  setApiToken(token: string | undefined): void {
    this.#apiToken = token;
  }

  isApiToken(token: string): boolean {
    return this.#apiToken !== undefined && token === this.#apiToken;
  }

  isClassToken(token: string): boolean {
    return this.#classTokens.has(token);
  }

  // --- admin: tasks --------------------------------------------------------------------

  enqueue(spec: TaskSpec, count = 1): Outcome<{ taskIds: string[] }> {
    const queue = this.#queues.get(spec.resource_class);
    if (queue === undefined) {
      return refuse('not-found', `resource class ${spec.resource_class} is not registered`);
    }
    const taskIds: string[] = [];
    for (let i = 0; i < count; i++) {
      const id = this.#newId();
      const createdAt = this.#now().toISOString();
      const task: TaskRecord = {
        id,
        spec,
        state: 'queued',
        claims: 0,
        unclaims: 0,
        claim: undefined,
        createdAt,
        history: [{ type: 'queued', at: createdAt }],
      };
      this.#tasks.set(id, task);
      const served = servedTaskId(task);
      if (served !== id) this.#servedIds.set(served, [...(this.#servedIds.get(served) ?? []), id]);
      queue.push(id);
      taskIds.push(id);
    }
    return { ok: true, taskIds };
  }

  cancel(taskId: string): Outcome {
    const task = this.#tasks.get(taskId);
    if (task === undefined) return refuse('not-found', `no task ${taskId}`);
    if (task.state === 'cancelled') return { ok: true };
    if (task.state === 'queued') {
      const queue = this.#queues.get(task.spec.resource_class) ?? [];
      queue.splice(queue.indexOf(task.id), 1);
    } else if (task.state === 'claimed') {
      this.#running.get(task.spec.resource_class)?.delete(task.id);
    } else {
      return refuse('conflict', `task ${taskId} already ${task.state}`);
    }
    this.#record(task, { type: 'cancelled', from: task.state });
    task.state = 'cancelled';
    return { ok: true };
  }

  /**
   * The task agent's completion report, authorised by the current claim's task token.
   * `finishedAt` is when the agent finished, if known (it reports before its container
   * exits; an observer that learns of the exit later passes the container's finish time).
   */
  report(
    taskId: string,
    taskToken: string,
    status: 'succeeded' | 'failed',
    message?: string,
    finishedAt?: Date,
  ): Outcome {
    const task = this.#named(taskId, taskToken);
    if (task === undefined) return refuse('not-found', `no task ${taskId}`);
    const claim = task.claim;
    if (claim === undefined || claim.token !== taskToken) {
      return refuse('forbidden', 'task token is not the current claim of this task');
    }
    if (task.state === 'cancelled') return refuse('cancelled', `task ${taskId} was cancelled`);
    if (task.state !== 'claimed') return refuse('conflict', `task ${taskId} already ${task.state}`);
    if (status === 'succeeded') {
      this.#end(
        task,
        'completed',
        { type: 'completed', allocation: claim.allocation, ...(message === undefined ? {} : { message }) },
        finishedAt,
      );
    } else {
      this.#end(
        task,
        'failed',
        { type: 'failed', allocation: claim.allocation, message: message ?? '', source: 'report' },
        finishedAt,
      );
    }
    return { ok: true };
  }

  task(taskId: string): TaskDetail | undefined {
    const task = this.#tasks.get(taskId);
    return task === undefined ? undefined : describe(task);
  }

  listTasks(filter: TaskListQuery = {}): TaskSummary[] {
    const out: TaskSummary[] = [];
    for (const task of this.#tasks.values()) {
      if (filter.resource_class !== undefined && task.spec.resource_class !== filter.resource_class) continue;
      if (filter.state !== undefined && task.state !== filter.state) continue;
      out.push(summarize(task));
    }
    return out;
  }

  taskCounts(): TaskCounts {
    const counts: TaskCounts = { queued: 0, claimed: 0, completed: 0, failed: 0, cancelled: 0 };
    for (const task of this.#tasks.values()) counts[task.state]++;
    return counts;
  }

  /** Forgets every task; resource classes and the API token stay. */
  reset(): void {
    this.#tasks.clear();
    this.#taskTokens.clear();
    this.#servedIds.clear();
    for (const queue of this.#queues.values()) queue.length = 0;
    for (const running of this.#running.values()) running.clear();
  }

  // --- Runner API ----------------------------------------------------------------------

  /**
   * `resourceClassToken` must be known (else forbidden). `claim` is absent when the queue
   * is empty; `served` is the answer to send: `claim` with the task's `claim_override` on top.
   */
  claim(
    resourceClassToken: string,
    runner: ClaimRequest,
  ): Outcome<{ claim?: ClaimResponse; served?: Record<string, unknown> }> {
    const resourceClass = this.#classTokens.get(resourceClassToken);
    if (resourceClass === undefined) return refuse('forbidden', 'unknown resource class token');
    const taskId = this.#queues.get(resourceClass)?.shift();
    if (taskId === undefined) return { ok: true };
    const task = this.#tasks.get(taskId)!;
    const override = task.spec.claim_override ?? {};
    // A test's token or allocation is the claim's own, so the runner's later calls with
    // what it was served are answered as they would be with ours.
    const claim: Claim = {
      token: typeof override.task_token === 'string' ? override.task_token : this.#newSecret(),
      allocation: typeof override.allocation === 'string' ? override.allocation : this.#newId(),
      claimedAt: this.#now().getTime(),
      confirmed: false,
    };
    task.state = 'claimed';
    task.claim = claim;
    task.claims++;
    this.#taskTokens.set(claim.token, task.id);
    this.#running.get(resourceClass)!.add(task.id);
    this.#record(task, { type: 'claimed', runner: { ...runner }, allocation: claim.allocation });
    const response: ClaimResponse = {
      task_token: claim.token,
      agent_version: this.agentVersion,
      resource_class: resourceClass,
      allocation: claim.allocation,
    };
    return { ok: true, claim: response, served: { ...response, ...structuredClone(override) } };
  }

  /**
   * `config` is the task's own; `served` is the answer to send: `config` with the task's
   * `config_override` on top, which may make it anything at all.
   */
  taskConfig(taskToken: string): Outcome<{ config: TaskConfig; served: ServedTaskConfig }> {
    const task = this.#byTaskToken(taskToken);
    if (task?.claim === undefined) return refuse('unknown-token', UNKNOWN_TOKEN);
    if (task.state === 'cancelled') return refuse('cancelled', 'task was cancelled');
    if (task.state !== 'claimed')
      return refuse('not-found', `the claim of this token ended (task ${task.state})`);
    task.claim.confirmed = true;
    this.#record(task, { type: 'config-fetched', allocation: task.claim.allocation });
    return { ok: true, config: taskConfigOf(task), served: servedTaskConfig(task) };
  }

  /**
   * `taskToken` is the bearer: it names the task, as in CircleCI's fake Runner API.
   * `taskId` must be that task's id as the task config served it (ours, or a
   * `config_override`'s); another id is a bad request (400), as there.
   */
  unclaim(taskId: string, taskToken: string): Outcome {
    const task = this.#byTaskToken(taskToken);
    const claim = task?.claim;
    if (task === undefined || claim === undefined) return refuse('unknown-token', UNKNOWN_TOKEN);
    if (taskId !== task.id && taskId !== servedTaskId(task)) {
      return refuse('bad-request', 'task_id is not the task this task token holds');
    }
    if (task.state === 'cancelled') {
      const reason = 'task was cancelled';
      this.#record(task, { type: 'unclaim-rejected', allocation: claim.allocation, status: 404, reason });
      return refuse('cancelled', reason);
    }
    if (task.state !== 'claimed') {
      const reason = `task already ${task.state}`;
      this.#record(task, { type: 'unclaim-rejected', allocation: claim.allocation, status: 409, reason });
      return refuse('conflict', reason);
    }
    if (task.unclaims >= MAX_UNCLAIMS) {
      // The task stays claimed: the runner is expected to post a fail event next.
      const reason = `retries exhausted (${task.unclaims} unclaims)`;
      this.#record(task, { type: 'unclaim-rejected', allocation: claim.allocation, status: 409, reason });
      return refuse('retries-exhausted', reason);
    }
    task.unclaims++;
    task.state = 'queued';
    task.claim = undefined;
    this.#taskTokens.delete(taskToken);
    this.#running.get(task.spec.resource_class)?.delete(task.id);
    // To the front: a retried task should not wait behind work queued after it.
    this.#queues.get(task.spec.resource_class)?.unshift(task.id);
    this.#record(task, { type: 'unclaimed', allocation: claim.allocation, unclaims: task.unclaims });
    return { ok: true };
  }

  /**
   * Requeues claims no runner confirmed (by fetching the task config) within `leaseMs`:
   * the claim's answer was lost, e.g. its runner died with the request in flight, so no
   * one holds its token. A Runner API has to do this or such tasks would hang forever.
   */
  expireClaims(leaseMs: number): string[] {
    const now = this.#now().getTime();
    const expired: string[] = [];
    for (const task of this.#tasks.values()) {
      const claim = task.claim;
      if (
        task.state !== 'claimed' ||
        claim === undefined ||
        claim.confirmed ||
        now - claim.claimedAt < leaseMs
      )
        continue;
      task.state = 'queued';
      task.claim = undefined;
      this.#taskTokens.delete(claim.token);
      this.#running.get(task.spec.resource_class)?.delete(task.id);
      this.#queues.get(task.spec.resource_class)?.unshift(task.id);
      this.#record(task, { type: 'claim-expired', allocation: claim.allocation });
      expired.push(task.id);
    }
    return expired;
  }

  fail(taskToken: string, event: FailEvent): Outcome {
    const task = this.#byTaskToken(taskToken);
    const claim = task?.claim;
    if (task === undefined || claim === undefined) return refuse('unknown-token', UNKNOWN_TOKEN);
    // 404 as in CircleCI's fake: an allocation the token's task does not hold is not found.
    if (event.allocation !== claim.allocation) {
      return refuse('not-found', 'allocation does not match the claim of this task token');
    }
    if (task.state === 'cancelled') return refuse('cancelled', 'task was cancelled');
    // A retried fail event (its response got lost) must not be an error nor a second failure.
    if (task.state === 'failed') return { ok: true };
    if (task.state !== 'claimed') return refuse('conflict', `task already ${task.state}`);
    this.#end(task, 'failed', {
      type: 'failed',
      allocation: claim.allocation,
      message: Buffer.from(event.message, 'base64').toString('utf8'),
      source: 'fail-event',
      timestamp: event.timestamp,
    });
    return { ok: true };
  }

  unclaimedCount(resourceClass: string): number {
    return this.#queues.get(resourceClass)?.length ?? 0;
  }

  runningCount(resourceClass: string): number {
    return this.#running.get(resourceClass)?.size ?? 0;
  }

  // --- internals -----------------------------------------------------------------------

  #byTaskToken(taskToken: string): TaskRecord | undefined {
    const id = this.#taskTokens.get(taskToken);
    return id === undefined ? undefined : this.#tasks.get(id);
  }

  /**
   * The task the agent's report names by `taskId` (our id or the one it was served) with a
   * task token: the token's own task when the name fits it, so tasks sharing an odd served id
   * stay apart; otherwise any task of that name, for the state rules to refuse the token.
   */
  #named(taskId: string, taskToken: string): TaskRecord | undefined {
    const own = this.#byTaskToken(taskToken);
    if (own !== undefined && (own.id === taskId || servedTaskId(own) === taskId)) return own;
    const byId = this.#tasks.get(taskId);
    if (byId !== undefined) return byId;
    const served = this.#servedIds.get(taskId)?.[0];
    return served === undefined ? undefined : this.#tasks.get(served);
  }

  #end(task: TaskRecord, state: 'completed' | 'failed', event: TaskEventBody, at?: Date): void {
    task.state = state;
    this.#running.get(task.spec.resource_class)?.delete(task.id);
    this.#record(task, event, at);
  }

  #record(task: TaskRecord, event: TaskEventBody, at: Date = this.#now()): void {
    task.history.push({ ...event, at: at.toISOString() });
  }
}

/** Invalid initial configuration handed to the constructor (e.g. a token in two classes). */
export class SimStateError extends Error {
  override name = 'SimStateError';
}

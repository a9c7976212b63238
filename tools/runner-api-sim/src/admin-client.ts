// A typed client of the admin API, for tests and benchmarks that drive a simulator over
// HTTP (in this process or another). Non-2xx answers throw SimAdminError.
import type { EnqueueInput, TaskListQuery } from './admin-schemas.ts';
import type { ActiveFaultRule, FaultRuleInput } from './faults.ts';
import type { TaskCounts } from './sim-state.ts';
import type { RequestStatsSnapshot } from './stats.ts';
import type { TaskDetail, TaskSummary } from './task.ts';

export type EnqueueTask = Omit<EnqueueInput, 'count'>;
export type SimStats = RequestStatsSnapshot & { tasks: TaskCounts };

export class SimAdminError extends Error {
  override name = 'SimAdminError';
  readonly status: number;

  constructor(status: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
  }
}

export class SimAdminClient {
  readonly baseUrl: string;

  constructor(baseUrl: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  async registerClass(name: string, tokens: readonly string[]): Promise<void> {
    await this.#request('POST', '/sim/resource-classes', { name, tokens });
  }

  async resourceClasses(): Promise<string[]> {
    return (await this.#request<{ resource_classes: string[] }>('GET', '/sim/resource-classes'))
      .resource_classes;
  }

  async setApiToken(token: string): Promise<void> {
    await this.#request('PUT', '/sim/api-token', { token });
  }

  /** Enqueues one task and returns its id. */
  async enqueue(task: EnqueueTask): Promise<string> {
    return (await this.#request<{ task_id: string }>('POST', '/sim/tasks', task)).task_id;
  }

  async enqueueMany(task: EnqueueTask, count: number): Promise<string[]> {
    return (await this.#request<{ task_ids: string[] }>('POST', '/sim/tasks', { ...task, count })).task_ids;
  }

  async listTasks(filter: TaskListQuery = {}): Promise<TaskSummary[]> {
    const query = new URLSearchParams();
    if (filter.resource_class !== undefined) query.set('resource_class', filter.resource_class);
    if (filter.state !== undefined) query.set('state', filter.state);
    const suffix = query.size > 0 ? `?${query}` : '';
    return (await this.#request<{ tasks: TaskSummary[] }>('GET', `/sim/tasks${suffix}`)).tasks;
  }

  /** The task with its full history. */
  async task(id: string): Promise<TaskDetail> {
    return this.#request<TaskDetail>('GET', `/sim/tasks/${encodeURIComponent(id)}`);
  }

  async cancel(id: string): Promise<void> {
    await this.#request('POST', `/sim/tasks/${encodeURIComponent(id)}/cancel`);
  }

  /** What the in-pod task agent does when the job ends. */
  async report(
    id: string,
    taskToken: string,
    status: 'succeeded' | 'failed',
    message?: string,
  ): Promise<void> {
    await this.#request('POST', `/sim/tasks/${encodeURIComponent(id)}/report`, {
      task_token: taskToken,
      status,
      ...(message === undefined ? {} : { message }),
    });
  }

  /** Replaces all fault rules. */
  async setFaults(rules: readonly FaultRuleInput[]): Promise<ActiveFaultRule[]> {
    return (await this.#request<{ rules: ActiveFaultRule[] }>('PUT', '/sim/faults', { rules })).rules;
  }

  async clearFaults(): Promise<void> {
    await this.#request('DELETE', '/sim/faults');
  }

  async faults(): Promise<ActiveFaultRule[]> {
    return (await this.#request<{ rules: ActiveFaultRule[] }>('GET', '/sim/faults')).rules;
  }

  async stats(): Promise<SimStats> {
    return this.#request<SimStats>('GET', '/sim/stats');
  }

  /** Forgets tasks, faults and stats; resource classes and the API token stay. */
  async reset(): Promise<void> {
    await this.#request('POST', '/sim/reset');
  }

  async #request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.baseUrl}${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        // No content-type without a body: fastify answers 400 to an empty JSON body.
        ...(body === undefined
          ? {}
          : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      });
    } catch (cause) {
      throw new SimAdminError(0, `${method} ${path}: simulator unreachable at ${this.baseUrl}`, { cause });
    }
    const text = await response.text();
    if (!response.ok) {
      throw new SimAdminError(response.status, `${method} ${path}: ${response.status} ${messageOf(text)}`);
    }
    try {
      return JSON.parse(text) as T;
    } catch (cause) {
      throw new SimAdminError(response.status, `${method} ${path}: response is not JSON`, { cause });
    }
  }
}

function messageOf(text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.slice(0, 200);
}

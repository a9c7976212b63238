// HttpRunnerQueue, the real HTTP client, against the Runner API simulator (a fake server
// for the API we do not own): counts, and every way a count can fail, as named errors
// that never carry the token.
import { type RunningSim, SimAdminClient, startSim } from '@longshore/runner-api-sim';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpRunnerQueue, RunnerQueueError } from '../src/index.ts';
import { API_TOKEN } from './support.ts';

const RC = 'acme/queue';
let sim: RunningSim;
let admin: SimAdminClient;

beforeAll(async () => {
  sim = await startSim({ classes: { [RC]: ['rc-token-queue-123456'] }, apiToken: API_TOKEN });
  admin = new SimAdminClient(sim.url);
});
afterAll(async () => {
  await sim.close();
});
afterEach(async () => {
  await admin.reset();
});

async function failureOf(p: Promise<unknown>): Promise<RunnerQueueError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RunnerQueueError);
  expect(String((err as Error).message)).not.toContain(API_TOKEN);
  return err as RunnerQueueError;
}

describe('HttpRunnerQueue', () => {
  it('reads unclaimed and running counts with the Circle-Token', async () => {
    const queue = new HttpRunnerQueue({ baseUrl: `${sim.url}/`, token: API_TOKEN });
    await admin.enqueueMany({ resource_class: RC, image: 'cimg/base:current' }, 3);
    expect(await queue.unclaimedTasks(RC)).toBe(3);
    expect(await queue.runningTasks(RC)).toBe(0);
    expect(await queue.unclaimedTasks('acme/unknown')).toBe(0);
  });

  it('reports a refused token as an HTTP status', async () => {
    const err = await failureOf(
      new HttpRunnerQueue({ baseUrl: sim.url, token: 'wrong-token-123' }).unclaimedTasks(RC),
    );
    expect(err).toMatchObject({ kind: 'status', status: 403 });
    expect(err.message).toBe(
      `GET /api/v3/runner/tasks?resource-class=${RC}: HTTP 403 (Circle-Token not accepted)`,
    );
  });

  it('reports malformed bodies, whatever they look like', async () => {
    const queue = new HttpRunnerQueue({ baseUrl: sim.url, token: API_TOKEN });
    await admin.setFaults([{ endpoint: 'unclaimedCount', kind: 'garbage' }]);
    const kinds = [];
    for (let i = 0; i < 4; i++) kinds.push(await failureOf(queue.unclaimedTasks(RC)));
    expect(kinds.map((e) => [e.kind, e.status])).toEqual(Array(4).fill(['malformed', 200]));
    expect(kinds[1]?.message).toMatch(/is not the expected shape \(unclaimed_task_count: /);
  });

  it('gives up on a slow answer after its timeout', async () => {
    await admin.setFaults([{ endpoint: 'runningCount', kind: 'latency', ms: 2_000 }]);
    const err = await failureOf(
      new HttpRunnerQueue({ baseUrl: sim.url, token: API_TOKEN, timeoutMs: 100 }).runningTasks(RC),
    );
    expect(err.kind).toBe('timeout');
  });

  it("passes on a rate limit's Retry-After", async () => {
    await admin.setFaults([{ endpoint: 'runningCount', kind: 'rate-limit', retry_after_s: 3 }]);
    const err = await failureOf(new HttpRunnerQueue({ baseUrl: sim.url, token: API_TOKEN }).runningTasks(RC));
    expect(err).toMatchObject({ kind: 'rate-limited', status: 429, retryAfterMs: 3_000 });
  });

  it('reports an unreachable API', async () => {
    const closed = await startSim({});
    await closed.close();
    const err = await failureOf(
      new HttpRunnerQueue({ baseUrl: closed.url, token: API_TOKEN }).unclaimedTasks(RC),
    );
    expect(err.kind).toBe('unreachable');
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('stops at once when its caller aborts', async () => {
    await admin.setFaults([{ endpoint: 'unclaimedCount', kind: 'latency', ms: 5_000 }]);
    const stop = new AbortController();
    const pending = new HttpRunnerQueue({ baseUrl: sim.url, token: API_TOKEN }).unclaimedTasks(
      RC,
      stop.signal,
    );
    stop.abort();
    expect((await failureOf(pending)).kind).toBe('unreachable');
  });
});

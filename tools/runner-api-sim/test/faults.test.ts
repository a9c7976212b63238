// Fault injection over real HTTP: what a runner meets when the Runner API misbehaves.
import { ClaimResponse } from '@longshore/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RunningSim, SimAdminClient, startSim } from '../src/index.ts';
import { bearer, claim, unclaimedCount } from './runner-calls.ts';

const RC = 'acme/small';
const TOKEN = 'rc-token';

let sim: RunningSim;
let admin: SimAdminClient;

beforeEach(async () => {
  sim = await startSim({ classes: { [RC]: [TOKEN] }, apiToken: 'api' });
  admin = new SimAdminClient(sim.url);
  await admin.enqueue({ resource_class: RC, image: 'cimg/base:current' });
});

afterEach(async () => {
  await sim.close();
});

describe('fault injection', () => {
  it('latency: answers normally, but only after the delay', async () => {
    await admin.setFaults([{ endpoint: 'claim', kind: 'latency', ms: 300 }]);
    const started = performance.now();
    const answer = await claim(sim.url, bearer(TOKEN));
    const elapsed = performance.now() - started;

    expect(answer.status).toBe(200);
    expect(ClaimResponse.safeParse(answer.json).success).toBe(true);
    // Loose on purpose: timers may fire a hair early; the point is that the delay happened.
    expect(elapsed).toBeGreaterThanOrEqual(290);
  });

  it('status: answers the status with a JSON error and changes nothing', async () => {
    await admin.setFaults([{ endpoint: 'claim', kind: 'status', status: 503 }]);
    const answer = await claim(sim.url, bearer(TOKEN));

    expect(answer.status).toBe(503);
    expect(answer.json).toEqual({ message: expect.stringContaining('503') });
    expect(await admin.listTasks({ state: 'queued' })).toHaveLength(1);
  });

  it('garbage: answers 200 with bodies that are not a valid response, of more than one kind', async () => {
    await admin.setFaults([{ endpoint: 'claim', kind: 'garbage' }]);
    const answers = await Promise.all(Array.from({ length: 4 }, () => claim(sim.url, bearer(TOKEN))));

    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(ClaimResponse.safeParse(answer.json).success).toBe(false);
    }
    expect(new Set(answers.map((a) => a.text)).size).toBeGreaterThan(1);
    expect(answers.some((a) => a.json === undefined)).toBe(true);
    expect(await admin.listTasks({ state: 'queued' })).toHaveLength(1);
  });

  it('rate-limit: answers 429 with Retry-After in seconds', async () => {
    await admin.setFaults([{ endpoint: 'unclaimedCount', kind: 'rate-limit', retry_after_s: 3 }]);
    const answer = await unclaimedCount(sim.url, { 'circle-token': 'api' }, RC);

    expect(answer.status).toBe(429);
    expect(answer.headers.get('retry-after')).toBe('3');
  });

  it('times: applies a rule to that many requests only', async () => {
    await admin.setFaults([{ endpoint: '*', kind: 'status', status: 500, times: 2 }]);

    expect((await claim(sim.url, bearer(TOKEN))).status).toBe(500);
    expect((await unclaimedCount(sim.url, { 'circle-token': 'api' }, RC)).status).toBe(500);
    expect(await admin.faults()).toEqual([expect.objectContaining({ times: 2, remaining: 0 })]);
    expect((await claim(sim.url, bearer(TOKEN))).status).toBe(200);
  });

  it('probability 0: never applies', async () => {
    await admin.setFaults([{ endpoint: 'claim', kind: 'status', status: 500, probability: 0 }]);
    expect((await claim(sim.url, bearer(TOKEN))).status).toBe(200);
  });

  it('leaves the admin API alone and can be listed and cleared', async () => {
    const rules = await admin.setFaults([{ endpoint: '*', kind: 'status', status: 500 }]);
    expect(rules).toEqual([{ endpoint: '*', kind: 'status', status: 500, probability: 1 }]);
    expect(await admin.listTasks()).toHaveLength(1);

    await admin.clearFaults();
    expect(await admin.faults()).toEqual([]);
    expect((await claim(sim.url, bearer(TOKEN))).status).toBe(200);
  });

  it('rejects a malformed rule with 400', async () => {
    await expect(admin.setFaults([{ endpoint: 'claim', kind: 'status' } as never])).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('status'),
    });
  });

  it('counts faulted requests in the stats', async () => {
    await admin.setFaults([{ endpoint: 'claim', kind: 'status', status: 502, times: 1 }]);
    await claim(sim.url, bearer(TOKEN));
    await claim(sim.url, bearer(TOKEN));

    const stats = await admin.stats();
    expect(stats.requests.claim).toEqual({ '502': 1, '200': 1 });
    expect(stats.total_runner_api_requests).toBe(2);
  });

  // Without the fix this took the server's keep-alive timeout (72 s); the generous test
  // timeout catches that without asserting on timings.
  it('does not hold up close while a request sleeps on a latency fault', { timeout: 20_000 }, async () => {
    await admin.setFaults([{ endpoint: 'claim', kind: 'latency', ms: 600_000 }]);
    const pending = claim(sim.url, bearer(TOKEN)).catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 100));

    await sim.close();
    expect(await pending).toMatchObject({ status: 200 });
  });
});

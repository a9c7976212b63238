// The simulator answering as a hostile or broken Runner API does, over real HTTP: what
// tests of the claimer use to prove it survives the world outside (issue 12).
import { ClaimResponse, MAX_CONTAINERS, RunnerApiPaths, TaskConfig } from '@longshore/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RunningSim, SimAdminClient, startSim } from '../src/index.ts';
import { bearer, claim, fail, failEvent, taskConfig, unclaim } from './runner-calls.ts';

const RC = 'acme/small';
const TOKEN = 'rc-token';

let sim: RunningSim;
let admin: SimAdminClient;

beforeEach(async () => {
  sim = await startSim({ classes: { [RC]: [TOKEN] } });
  admin = new SimAdminClient(sim.url);
});

afterEach(async () => {
  await sim.close();
});

/** Claims over HTTP and returns the claim as served, with the token and allocation it holds. */
async function claimServed(): Promise<{ json: Record<string, unknown>; token: string; allocation: string }> {
  const answer = await claim(sim.url, bearer(TOKEN));
  expect(answer.status).toBe(200);
  const json = answer.json as Record<string, unknown>;
  return { json, token: String(json.task_token), allocation: String(json.allocation) };
}

function issuesOf(config: unknown): string[] {
  const parsed = TaskConfig.safeParse(config);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('config_override', () => {
  it('serves a task id with a newline, takes it back in unclaim, and keeps history under its own id', async () => {
    const id = await admin.enqueue({
      resource_class: RC,
      image: 'cimg/base:current',
      config_override: { task_id: 'a\nb' },
    });
    const { token } = await claimServed();
    const config = await taskConfig(sim.url, bearer(token));

    expect(config.json).toMatchObject({ task_id: 'a\nb', resource_class: RC });
    expect(issuesOf(config.json)).toEqual([expect.stringMatching(/^task_id: /)]);
    expect((await unclaim(sim.url, { task_id: 'a\nb', task_token: token })).status).toBe(200);

    const task = await admin.task(id);
    expect(task).toMatchObject({ id, served_task_id: 'a\nb', state: 'queued', unclaims: 1 });
    expect(task.history.map((e) => e.type)).toEqual(['queued', 'claimed', 'config-fetched', 'unclaimed']);
  });

  it('accepts nonsense at enqueue and serves it as given: 500 containers, a 2 MB environment, a bad image', async () => {
    const nonsense = [
      { containers: 'nope' },
      { containers: Array.from({ length: 500 }, () => ({ image: 'redis:7' })) },
      { containers: [{ image: 'redis:7', environment: { BIG: 'x'.repeat(2_000_000) } }] },
      { containers: [{ image: 'NOT AN IMAGE' }] },
    ];
    const expected = [
      'containers: Invalid input: expected array',
      `containers: a task has at most ${MAX_CONTAINERS} containers`,
      'containers: environment of all containers is 2000003 bytes',
      'containers.0.image: not an image reference',
    ];
    for (const config_override of nonsense) {
      await admin.enqueue({ resource_class: RC, image: 'cimg/base:current', config_override });
    }
    for (const [i, override] of nonsense.entries()) {
      const { token } = await claimServed();
      const config = await taskConfig(sim.url, bearer(token));
      expect(config.status).toBe(200);
      expect(config.json).toMatchObject(override);
      expect(issuesOf(config.json)).toEqual([expect.stringContaining(expected[i]!)]);
    }
  });

  it('still validates the normal enqueue fields', async () => {
    await expect(
      admin.enqueue({ resource_class: 'not a class', image: 'x', config_override: { anything: true } }),
    ).rejects.toMatchObject({ status: 400, message: expect.stringContaining('resource_class') });
    await expect(
      admin.enqueue({ resource_class: RC, image: 'x', config_override: 'nope' as never }),
    ).rejects.toMatchObject({ status: 400, message: expect.stringContaining('config_override') });
  });
});

describe('claim_override', () => {
  it('serves a claim for another class with a bad allocation, whose claim still works as served', async () => {
    const id = await admin.enqueue({
      resource_class: RC,
      image: 'cimg/base:current',
      claim_override: { resource_class: 'other/class', agent_version: 7 },
    });
    const served = await claimServed();
    expect(served.json).toMatchObject({ resource_class: 'other/class', agent_version: 7 });
    expect(ClaimResponse.safeParse(served.json).success).toBe(false);

    // A runner that refuses the claim can still fail it with what it was served.
    expect(
      (await fail(sim.url, bearer(served.token), failEvent(served.allocation, 'not my class'))).status,
    ).toBe(200);
    expect(await admin.task(id)).toMatchObject({
      state: 'failed',
      claim_override: { resource_class: 'other/class' },
    });
  });

  it('serves an allocation that is not an id', async () => {
    await admin.enqueue({
      resource_class: RC,
      image: 'cimg/base:current',
      claim_override: { allocation: 'a\nb c' },
    });
    const served = await claimServed();
    const parsed = ClaimResponse.safeParse(served.json);
    expect(parsed.error?.issues.map((i) => i.path.join('.'))).toEqual(['allocation']);
  });
});

/** Reads a response body to its end, counting bytes without keeping them. */
async function drain(response: Response): Promise<number> {
  let bytes = 0;
  for await (const chunk of response.body ?? []) bytes += chunk.length;
  return bytes;
}

describe('respond fault', () => {
  it('serves a literal answer with its status and content type, changing no state', async () => {
    await admin.enqueue({ resource_class: RC, image: 'cimg/base:current' });
    await admin.setFaults([
      {
        endpoint: 'claim',
        kind: 'respond',
        status: 201,
        content_type: 'text/plain',
        body: 'hello',
        times: 1,
      },
    ]);
    const answer = await claim(sim.url, bearer(TOKEN));

    expect(answer).toMatchObject({ status: 201, text: 'hello' });
    expect(answer.headers.get('content-type')).toBe('text/plain');
    expect(answer.headers.get('content-length')).toBe('5');
    expect(await admin.listTasks({ state: 'queued' })).toHaveLength(1);
  });

  it.each([true, false])('streams a generated 50 MB answer (content_length %s)', async (contentLength) => {
    const bytes = 50 * 1024 * 1024;
    await admin.setFaults([
      { endpoint: 'taskConfig', kind: 'respond', body_bytes: bytes, content_length: contentLength },
    ]);
    const response = await fetch(`${sim.url}${RunnerApiPaths.taskConfig}`, { headers: bearer('whatever') });

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('content-length')).toBe(contentLength ? String(bytes) : null);
    expect(response.headers.get('transfer-encoding')).toBe(contentLength ? null : 'chunked');
    expect(await drain(response)).toBe(bytes);
  });

  it('sends a literal body chunked, without a length, when asked', async () => {
    await admin.setFaults([{ endpoint: 'claim', kind: 'respond', body: '{}', content_length: false }]);
    const answer = await claim(sim.url, bearer(TOKEN));
    expect(answer.headers.get('content-length')).toBeNull();
    expect(answer.text).toBe('{}');
  });
});

describe('dribble fault', () => {
  it('lets the request through and trickles the real answer, whole in the end', async () => {
    await admin.enqueue({ resource_class: RC, image: 'cimg/base:current' });
    await admin.setFaults([{ endpoint: 'claim', kind: 'dribble', chunk_bytes: 16, interval_ms: 5 }]);
    const answer = await claim(sim.url, bearer(TOKEN));

    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-length')).toBe(String(Buffer.byteLength(answer.text)));
    expect(ClaimResponse.safeParse(answer.json).success).toBe(true);
    expect(await admin.listTasks({ state: 'claimed' })).toHaveLength(1);
  });

  it('sends the headers, then a first piece, and holds the rest back', async () => {
    await admin.enqueue({ resource_class: RC, image: 'cimg/base:current' });
    await admin.setFaults([{ endpoint: 'claim', kind: 'dribble', chunk_bytes: 4, interval_ms: 600_000 }]);
    const response = await fetch(`${sim.url}${RunnerApiPaths.claim}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(TOKEN) },
      body: JSON.stringify({ name: 'r', hostname: 'h', ip: '1.2.3.4', version: '1' }),
    });
    expect(response.status).toBe(200);
    const length = Number(response.headers.get('content-length'));
    expect(length).toBeGreaterThan(4);

    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(first.value?.length).toBe(4);
    // Closing lets the dribble go: the body ends short (or the connection drops).
    const rest = reader.read().catch((error: unknown) => error);
    await sim.close();
    const after = await rest;
    expect((after as { value?: Uint8Array }).value?.length ?? 0).toBeLessThan(length - 4);
  });

  it('trickles a respond fault’s answer too', async () => {
    await admin.setFaults([
      { endpoint: 'taskConfig', kind: 'dribble', chunk_bytes: 1000, interval_ms: 1 },
      { endpoint: 'taskConfig', kind: 'respond', body_bytes: 10_000 },
    ]);
    const response = await fetch(`${sim.url}${RunnerApiPaths.taskConfig}`, { headers: bearer('x') });
    expect(response.headers.get('content-length')).toBe('10000');
    expect(await drain(response)).toBe(10_000);
  });
});

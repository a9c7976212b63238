// Raw Runner API calls over HTTP, as a runner makes them, for the integration tests.
// Deliberately not a client library: tests want to see every status and header.
import { ClaimResponse, RunnerApiPaths } from '@longshore/contracts';

export const RUNNER = { name: 'runner-1', hostname: 'host-1', ip: '10.0.0.1', version: '1.2.3' };

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is empty or not JSON. */
  json: unknown;
}

export async function call(base: string, path: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(`${base}${path}`, init);
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

const jsonBody = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export function claim(
  base: string,
  headers: Record<string, string>,
  body: unknown = RUNNER,
): Promise<Answer> {
  return call(base, RunnerApiPaths.claim, jsonBody(body, headers));
}

/** Claims with a resource class token and expects a task. */
export async function claimTask(base: string, token: string): Promise<ClaimResponse> {
  const answer = await claim(base, bearer(token));
  if (answer.status !== 200) throw new Error(`expected a claim, got ${answer.status} ${answer.text}`);
  return ClaimResponse.parse(answer.json);
}

export function taskConfig(base: string, headers: Record<string, string>): Promise<Answer> {
  return call(base, RunnerApiPaths.taskConfig, { headers });
}

/** The task id a claim holds, read as a runner does: from the task config. */
export async function taskIdOf(base: string, claimed: ClaimResponse): Promise<string> {
  const answer = await taskConfig(base, bearer(claimed.task_token));
  return (answer.json as { task_id: string }).task_id;
}

/**
 * As a runner unclaims: the task token as bearer (by default the body's `task_token`) and
 * in the body. Pass `headers` to send others, `{}` for none.
 */
export function unclaim(base: string, body: unknown, headers?: Record<string, string>): Promise<Answer> {
  const token = (body as { task_token?: unknown } | null)?.task_token;
  const sent = headers ?? (typeof token === 'string' ? bearer(token) : {});
  return call(base, RunnerApiPaths.unclaim, jsonBody(body, sent));
}

export function fail(base: string, headers: Record<string, string>, body: unknown): Promise<Answer> {
  return call(base, RunnerApiPaths.fail, jsonBody(body, headers));
}

export function failEvent(allocation: string, message: string) {
  return { allocation, timestamp: Date.now(), message: Buffer.from(message, 'utf8').toString('base64') };
}

export function unclaimedCount(base: string, headers: Record<string, string>, resourceClass?: string) {
  const query = resourceClass === undefined ? '' : `?resource-class=${encodeURIComponent(resourceClass)}`;
  return call(base, `${RunnerApiPaths.unclaimedCount}${query}`, { headers });
}

export function runningCount(base: string, headers: Record<string, string>, resourceClass?: string) {
  const query = resourceClass === undefined ? '' : `?resource-class=${encodeURIComponent(resourceClass)}`;
  return call(base, `${RunnerApiPaths.runningCount}${query}`, { headers });
}

// `longshore config check` on the files a new user might write: every one that a service
// would refuse later is refused here, with the file, the key path and the reason, and
// without echoing a secret.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configCheck, formatPodChecks } from './config-check.ts';

let dir: string;
// NATS_URL and REDIS_URL override bus.url and redis.url, as they do for a service; a run that
// also brings up the test bed sets them, so the files here are checked without them.
const saved = { NATS_URL: process.env.NATS_URL, REDIS_URL: process.env.REDIS_URL };
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'longshore-config-check-'));
  delete process.env.NATS_URL;
  delete process.env.REDIS_URL;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
});

async function check(yaml: string) {
  const file = join(dir, `values-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, yaml);
  const out: string[] = [];
  const err: string[] = [];
  const code = await configCheck(file, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n'), file };
}

const SECRET = 's3cr3t-value';

describe('config check refuses what a service would fail on later', () => {
  it('an alias bomb', async () => {
    const levels = Array.from({ length: 9 }, (_, i) =>
      i === 0
        ? 'l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'
        : `l${i}: &l${i} [${Array(9)
            .fill(`*l${i - 1}`)
            .join(', ')}]`,
    );
    const r = await check(`${levels.join('\n')}\n`);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`^invalid config ${r.file}: too many alias expansions`));
  });

  it.each([
    ['bus.url', `bus: {url: "not a url ${SECRET}"}`, 'bus.url: must be a nats:// or tls:// URL'],
    [
      'redis.url',
      `redis: {url: "http://:${SECRET}@redis:6379"}`,
      'redis.url: must be a redis:// or rediss:// URL',
    ],
    [
      'credentials in agent.runnerAPI',
      `agent: {runnerAPI: "https://runner:${SECRET}@runner.example.com"}`,
      'agent.runnerAPI: must not contain credentials (user:password@): put tokens in',
    ],
    [
      'credentials in provisioner.circleciAPIAddr',
      `provisioner: {circleciAPIAddr: "https://${SECRET}@circleci.example.com", existingSecret: s}`,
      'provisioner.circleciAPIAddr: must not contain credentials (user:password@): put tokens in',
    ],
    [
      'a token with a newline',
      `agent: {resourceClasses: {acme/small: {token: "${SECRET}\\n"}}}`,
      'agent.resourceClasses["acme/small"].token: must be visible ASCII characters only',
    ],
    [
      'a circleToken with a space',
      `provisioner: {circleToken: "${SECRET} x", existingSecret: s}`,
      'provisioner.circleToken: must be visible ASCII characters only',
    ],
    [
      'a string nodeSelector',
      `agent: {resourceClasses: {acme/small: {token: ${SECRET}, spec: {nodeSelector: disktype=ssd}}}}`,
      'agent.resourceClasses["acme/small"].spec.nodeSelector: must be a map of strings, e.g. nodeSelector: {kubernetes.io/arch: amd64} (not the string kubernetes.io/arch=amd64)',
    ],
  ])('%s', async (_name, yaml, reason) => {
    const r = await check(yaml);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`invalid config ${r.file}: ${reason}`);
    expect(r.err + r.out).not.toContain(SECRET);
  });
});

describe('config check --cluster output', () => {
  it('one line per class: accepted on stdout, refused with the field and the reason on stderr', () => {
    expect(
      formatPodChecks([
        { resourceClass: 'acme/good', outcome: 'accepted', reason: '' },
        {
          resourceClass: 'acme/typo',
          outcome: 'refused',
          field: 'spec.containers[0].resourcez',
          reason:
            'the apiserver refused the task pod: strict decoding error: unknown field "spec.containers[0].resourcez"',
        },
        {
          resourceClass: 'acme/hooked',
          outcome: 'unchecked',
          reason: 'admission webhook "x" does not support dry run',
        },
      ]),
    ).toEqual([
      { stream: 'out', text: '  acme/good: task pod accepted' },
      {
        stream: 'err',
        text: 'agent.resourceClasses["acme/typo"]: task pod refused at spec.containers[0].resourcez: the apiserver refused the task pod: strict decoding error: unknown field "spec.containers[0].resourcez"',
      },
      {
        stream: 'err',
        text: 'warning: agent.resourceClasses["acme/hooked"]: the task pod could not be checked: admission webhook "x" does not support dry run',
      },
    ]);
    expect(formatPodChecks([])).toEqual([{ stream: 'out', text: '  no resource classes to check' }]);
  });
});

// The README's main command: `npm start -- --once` runs the demo against the local stack
// and exits 0 only when everything ended as expected.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);

it('runs the demo once and exits 0 with a summary', async () => {
  const cli = join(import.meta.dirname, '..', 'src', 'cli.ts');
  const { stdout, stderr } = await run(
    process.execPath,
    [cli, 'start', '--once', '--namespace', 'longshore-demo-test'],
    {
      env: { PATH: process.env.PATH },
      timeout: 200_000,
    },
  );
  expect(stdout).toContain('demo ended as expected');
  expect(stderr).toMatch(/metrics \(Prometheus text\): scheduler http:\/\/127\.0\.0\.1:\d+\/metrics/);
  // The fleet page, while the demo runs (e2e/fleet-page.test.ts looks at it in a browser).
  expect(stderr).toMatch(
    /the fleet page \(classes, a live task timeline, VM pools\): http:\/\/127\.0\.0\.1:\d+\//,
  );
  expect(stdout).toMatch(/claimed\s+demo\/small/);
  // The stage latencies from the services' own histograms, every stage of the small class.
  expect(stdout).toContain('stage latencies');
  for (const stage of ['config_fetched', 'pod_created', 'running', 'ended', 'cleaned_up', 'end_to_end'])
    expect(stdout).toMatch(new RegExp(`demo/small\\s+${stage}\\s+\\d+\\s+\\S+ m?s\\s+\\S+ m?s`));
  // Container 0 exiting 0 is never shown as a success (a failed job ends so too); a
  // non-zero exit is an interruption the runner reports.
  expect(stdout).toMatch(/reported\s+demo\/small\s+exit_code=0/);
  expect(stdout).not.toMatch(/succeeded/);
  expect(stdout).toMatch(/interrupted\s+demo\/small\s+reason=exit-code exit_code=1/);
  expect(stdout).toMatch(/ok {4}demo\/small\s+lint \(job fails\)\s+failed .*failed by report/);
  expect(stdout).toMatch(/ok {4}demo\/small\s+docs \(orchestrator exits 1\)\s+failed .*failed by fail-event/);
  expect(stdout).toMatch(/VM pool\s+grew to 3/);
  expect(stdout).toMatch(/interrupted\s+demo\/spot\s+reason=evicted/);
  expect(stdout).toMatch(/released\s+demo\/spot/);
  // The job config as a pod: a service container's user, a custom entrypoint, a private image.
  expect(stdout).toMatch(
    /scheduled\s+demo\/small\s+pod=\S+ warning="service container db \(cimg\/postgres:16\.0\): user \\"postgres\\" is not a numeric uid/,
  );
  expect(stdout).toMatch(
    /ok {4}demo\/small\s+integration \(postgres service\)\s+completed .*; pod: cache runs as 999:999/,
  );
  expect(stdout).toMatch(
    /ok {4}demo\/small\s+custom entrypoint\s+completed .*; pod: entrypoint and command given to the orchestrator/,
  );
  expect(stdout).toMatch(
    /ok {4}demo\/small\s+private image \(registry login\)\s+completed .*; pod: pulled with the task Secret/,
  );
}, 240_000);

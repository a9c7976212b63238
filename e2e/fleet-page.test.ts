// The fleet page (`longshore ui`) in a real browser against a fleet at work: Debian's
// chromium, headless, driven by puppeteer-core. The page must load without a console error,
// show a task on its timeline within seconds of its claim, show a class the constraint
// checker turned off as not claiming with the checker's reason, open a task's events on a
// click, show a draining claimer's classes as draining, and never carry a token. A
// screenshot is left in test-artifacts/ (the README's).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, REPO_ROOT, stopChild, waitFor } from '@longshore/testbed';
import { Fleet } from '@longshore/testbed/testing';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterEach, expect, it } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';
const CLI = join(REPO_ROOT, 'tools', 'cli', 'src', 'cli.ts');
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
const PLAIN = 'e2e/plain';
const SPOT = 'e2e/spot';
const NOWHERE = 'e2e/nowhere';
const MACHINE = 'e2e/machine';
const SERVICES = ['scheduler', 'claimer', 'constraints', 'vm-scaler'] as const;

let fleet: Fleet | undefined;
let ui: ChildProcess | undefined;
let browser: Browser | undefined;

afterEach(async () => {
  await browser?.close().catch(() => {});
  ui?.kill('SIGTERM');
  await fleet?.stop();
  browser = ui = fleet = undefined;
});

/** `longshore ui` as a user runs it; resolves with the URL it prints. */
async function startUi(
  nats: readonly string[],
  prefix: string,
  metricsUrls: string[] = [],
): Promise<{ url: string; output: () => string }> {
  const args = [CLI, 'ui', '--port', '0', '--prefix', prefix, '--nats', nats.join(',')];
  for (const m of metricsUrls) args.push('--metrics', m);
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  ui = child;
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const url = await waitFor(
    'longshore ui to print its URL',
    () => /the fleet page is at (\S+)/.exec(out)?.[1],
    {
      timeoutMs: 30_000,
      detail: () => out,
    },
  );
  return { url, output: () => out };
}

async function openBrowser(url: string): Promise<{ page: Page; errors: string[] }> {
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // The test bed runs as root in CI, where chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1440, height: 960 });
  const errors = watchErrors(page);
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('#connection[data-state="live"]', { timeout: 10_000 });
  return { page, errors };
}

/** What the browser said that a user would call an error. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warn') errors.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${(e as Error).message}`));
  page.on('requestfailed', (r) => {
    // The event stream is cut when the test ends; anything else failing is a fault.
    if (!r.url().endsWith('/api/stream')) errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  return errors;
}

it('shows classes, a live task timeline and VM pools in a browser, without errors or secrets', async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} (scripts/ensure-deps.sh installs Debian's chromium)`).toBe(true);
  fleet = await Fleet.start({
    classes: {
      [PLAIN]: { token: 'tok-page-plain-0001' },
      [SPOT]: { token: 'tok-page-spot-00001', enableUnsafeRetries: true },
      // No node has this label: the constraint checker turns the class off after 3 checks.
      [NOWHERE]: { token: 'tok-page-nowhere-01', spec: { nodeSelector: { disktype: 'nowhere' } } },
    },
    maxConcurrentTasks: 6,
    agent: { constraintChecker: { enable: true, interval: '1s', threshold: 3, debounce: '300ms' } },
    machineClass: { name: MACHINE, token: 'tok-page-machine-01', minReplicas: 1, maxReplicas: 3 },
  });
  const f = fleet;
  const tokens = f.watchTaskTokens();
  for (const s of SERVICES) f.spawn(s);
  const metricsUrls = await f.waitFor('every service serving /metrics', () => {
    const u = SERVICES.map((s) => f.services.get(s)?.healthUrl);
    return u.every((x) => x !== undefined) ? u.map((x) => new URL('/metrics', x).href) : undefined;
  });
  // Some history before the page opens (it replays the window), and a VM queue.
  const before = [
    ...(await f.admin.enqueueMany({ resource_class: PLAIN, image: 'fate.test/succeed:300ms' }, 3)),
    await f.admin.enqueue({ resource_class: SPOT, image: 'fate.test/evict:300ms' }),
  ];
  await f.admin.enqueue({ resource_class: MACHINE, image: 'machine' });
  await f.admin.enqueue({ resource_class: MACHINE, image: 'machine' });
  await f.waitForTasksEnded(before.slice(0, 3));

  const { url, output } = await startUi(f.natsUrls, f.prefix, metricsUrls);
  expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  const { page, errors } = await openBrowser(url);

  // The history: the tasks that ran before the page opened, each a row.
  for (const id of before.slice(0, 3))
    await page.waitForSelector(`.row[data-task-id="${id}"][data-stage="ended"]`);

  // A task claimed now appears within seconds (it runs for a minute: the row shows it running).
  const fresh = await f.admin.enqueue({ resource_class: PLAIN, image: 'fate.test/succeed:60s' });
  await f.waitFor('the fresh task to be claimed', async () =>
    (await f.admin.task(fresh)).history.some((h) => h.type === 'claimed') ? true : undefined,
  );
  await page.waitForSelector(`.row[data-task-id="${fresh}"]`, { timeout: 5_000 });

  // The class no node can take: not claiming, with the checker's reason.
  const nowhere = `#classes tr[data-resource-class="${NOWHERE}"]`;
  await page.waitForSelector(`${nowhere}[data-claiming="off"]`, { timeout: 30_000 });
  const why = await page.$eval(nowhere, (tr) => tr.textContent ?? '');
  expect(why).toContain('not claiming');
  expect(why).toMatch(/disabled: no node matches nodeSelector disktype=nowhere/);
  expect(await page.$eval(`#classes tr[data-resource-class="${PLAIN}"]`, (tr) => tr.dataset.claiming)).toBe(
    'on',
  );

  // The evicted task: two attempts on one row, the first interrupted and retried.
  const spotRow = `.row[data-task-id="${before[3]}"]`;
  await page.waitForSelector(`${spotRow} .attempt`, { timeout: 30_000 });
  // In flight against the cap, from the claimers' /metrics; the VM pool, from the scaler.
  const cell = (rc: string, column: number) =>
    page.$eval(`#classes tr[data-resource-class="${rc}"] td:nth-child(${column})`, (td) => td.textContent);
  await f.waitFor(
    '1 of 6 in flight on the plain class',
    async () => ((await cell(PLAIN, 3)) === '1 / 6' ? true : undefined),
    15_000,
  );
  await page.waitForSelector(`.pool[data-resource-class="${MACHINE}"] path.desired`, { timeout: 15_000 });
  // A machine class is the VMs' to claim, not shown as a class Longshore claims for.
  expect(await cell(MACHINE, 2)).toBe('VMs claim');
  expect(await cell(MACHINE, 4)).toBe('2');

  // A click shows the task's events as the tap prints them.
  await page.click(`.row[data-task-id="${fresh}"]`);
  const details = () => page.$eval('#details-events', (pre) => pre.textContent ?? '');
  await f.waitFor(
    "the task's events",
    async () => ((await details()).includes('claimed') ? true : undefined),
    10_000,
  );
  const lines = await details();
  expect(lines).toMatch(new RegExp(`task ${fresh.slice(0, 8)}… +#1 +claimed +${PLAIN}`));

  mkdirSync(ARTIFACTS, { recursive: true });
  const shot = join(ARTIFACTS, 'fleet-page.png');
  await page.screenshot({ path: shot, fullPage: true });
  expect(existsSync(shot)).toBe(true);

  expect(errors).toEqual([]);
  // Nothing the page was given holds a token: the snapshot, a task's events, the page itself.
  const snapshot = await (await fetch(new URL('api/snapshot', url))).text();
  const events = await (await fetch(new URL(`api/tasks/${fresh}`, url))).text();
  const html = await page.content();
  expect((await fetch(new URL('api/tasks/no-such-task', url))).status).toBe(404);
  await tokens.stop();
  expect(tokens.seen.size).toBeGreaterThan(0);
  f.expectNoSecrets(tokens.seen, [snapshot, events, html, output()]);
  for (const t of ['api-token-e2e', 'tok-page-machine-01'])
    expect(`${snapshot}${events}${html}`).not.toContain(t);

  // A claimer told to stop drains (the fresh task runs on): its classes show it until it has.
  f.procs.get('claimer')!.kill('SIGTERM');
  const plain = `#classes tr[data-resource-class="${PLAIN}"]`;
  await page.waitForSelector(`${plain}[data-claiming="off"]`, { timeout: 15_000 });
  expect(await cell(PLAIN, 2)).toMatch(/draining: its claimer is stopping/);
  expect(errors).toEqual([]);
}, 180_000);

it('says when its bus is lost, and goes live again when the bus is back', async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} (scripts/ensure-deps.sh installs Debian's chromium)`).toBe(true);
  // A NATS server of its own, to take away and bring back on the same port.
  const port = await freePort();
  const store = mkdtempSync(join(tmpdir(), 'longshore-page-nats-'));
  const startNats = () =>
    spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store], { stdio: 'ignore' });
  let nats = startNats();
  try {
    const natsUrl = `nats://127.0.0.1:${port}`;
    const { url } = await startUi([natsUrl], `lost${process.pid}`);
    const { page, errors } = await openBrowser(url);
    await stopChild(nats, 5_000);
    await page.waitForSelector('#connection[data-state="bus-lost"]', { timeout: 15_000 });
    expect(await page.$eval('#connection', (b) => b.textContent)).toBe(
      'bus lost: showing what was read before',
    );
    nats = startNats();
    await page.waitForSelector('#connection[data-state="live"]', { timeout: 30_000 });
    expect(errors).toEqual([]);
  } finally {
    await browser?.close().catch(() => {});
    browser = undefined;
    ui?.kill('SIGTERM');
    ui = undefined;
    await stopChild(nats, 5_000);
    rmSync(store, { recursive: true, force: true });
  }
}, 90_000);

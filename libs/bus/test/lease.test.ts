// Leases on the test bed's NATS (2.9): one holder among replicas; a holder killed with -9
// (a process of its own) is replaced within the TTL and a try; a holder cut off from NATS
// lets go before another takes over, and its stale revision is refused when it comes back;
// a released lease is deleted for the standby to take; an existing bucket is brought to
// the lease's TTL.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { TcpProxy } from '@longshore/testbed';
import { eventually, freePort } from '@longshore/testbed/testing';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { afterEach, expect, it } from 'vitest';
import { type BusLogger, type Lease, openLease } from '../src/index.ts';
import { natsUrl } from './support.ts';

const TTL = 2_000;
const prefix = `t${randomBytes(5).toString('hex')}`;
const opened: Lease[] = [];
const children: ChildProcess[] = [];
const proxies: TcpProxy[] = [];
const buckets = new Set<string>();

afterEach(async () => {
  logs.length = 0;
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.allSettled(opened.splice(0).map((l) => l.close()));
  await Promise.allSettled(proxies.splice(0).map((p) => p.close()));
  const nc = await connect({ servers: natsUrl() });
  try {
    const jsm = await jetstreamManager(nc);
    for (const b of buckets) await jsm.streams.delete(`KV_${b}`).catch(() => undefined);
  } finally {
    await nc.close();
  }
});

/** What the leases logged, with the time, for failure messages. */
const logs: string[] = [];

function logger(holder: string): BusLogger {
  const at = (level: string) => (fields: Record<string, unknown>, msg: string) => {
    logs.push(`${performance.now().toFixed(0)} ${holder} ${level} ${msg} ${JSON.stringify(fields)}`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

async function lease(name: string, holder: string, servers = natsUrl(), ttlMs = TTL): Promise<Lease> {
  buckets.add(`${prefix}_lease_${name}`);
  const l = await openLease({ servers, prefix, name, holder, ttlMs, logger: logger(holder) });
  opened.push(l);
  return l;
}

/** Holding changes of several leases, in the order they happened. */
function timeline(leases: Record<string, Lease>): string[] {
  const seen: string[] = [];
  for (const [who, l] of Object.entries(leases))
    l.onChange((h) => seen.push(`${who} ${h ? 'took' : 'lost'}`));
  return seen;
}

/** The lease key as NATS has it: its operation, or undefined when there is no entry. */
async function keyOperation(name: string): Promise<string | undefined> {
  const nc = await connect({ servers: natsUrl() });
  try {
    const kv = await new Kvm(nc).open(`${prefix}_lease_${name}`);
    return (await kv.get('holder'))?.operation;
  } finally {
    await nc.close();
  }
}

it('one holder; after a kill -9 of the holder the standby takes over, the other standing by meanwhile', async () => {
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, 'hold-lease.ts'), natsUrl(), prefix, 'killed', String(TTL)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  buckets.add(`${prefix}_lease_killed`);
  await eventually(() => expect(out).toContain('{"held":true}'), 20_000);

  const b = await lease('killed', 'b');
  const c = await lease('killed', 'c');
  await eventually(() => expect(b.reachable() && c.reachable()).toBe(true), 10_000);
  expect([b.held(), c.held()]).toEqual([false, false]);

  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  // The child's entry expires a TTL after its last renewal; a standby's next try takes it.
  await eventually(() => expect([b, c].filter((l) => l.held())).toHaveLength(1), 4 * TTL);
  expect(await keyOperation('killed')).toBe('PUT');
});

it('a holder cut off from NATS lets go before another takes over, and stands by when it is back', async () => {
  const target = new URL(natsUrl());
  const proxy = new TcpProxy(await freePort(), { host: target.hostname, port: Number(target.port) });
  proxies.push(proxy);
  await proxy.listen();
  const a = await lease('cut', 'a', `nats://127.0.0.1:${proxy.port}`);
  await eventually(() => expect(a.held()).toBe(true), 10_000);
  const b = await lease('cut', 'b');
  const seen = timeline({ a, b });
  await eventually(() => expect(b.reachable()).toBe(true), 10_000);
  expect(b.held()).toBe(false);

  await proxy.close();
  await eventually(() => expect(b.held()).toBe(true), 4 * TTL);
  expect(seen, logs.join('\n')).toEqual(['a lost', 'b took']);
  expect(a.held()).toBe(false);

  // Back in touch: its renewal from the old revision is refused, so it stands by.
  await proxy.listen();
  await eventually(() => expect(a.reachable()).toBe(true), 4 * TTL);
  expect([a.held(), b.held()]).toEqual([false, true]);
  expect(seen, logs.join('\n')).toEqual(['a lost', 'b took']);
});

it('close() releases the lease: the key is deleted, and the standby takes it', async () => {
  const a = await lease('released', 'a');
  await eventually(() => expect(a.held()).toBe(true), 10_000);
  const b = await lease('released', 'b');
  await eventually(() => expect(b.reachable()).toBe(true), 10_000);
  await a.close();
  expect(a.held()).toBe(false);
  const op = await keyOperation('released');
  // Deleted by a, unless b's next try came in between.
  expect(op === 'DEL' || b.held()).toBe(true);
  await eventually(() => expect(b.held()).toBe(true), 2 * TTL);
});

it("brings an existing bucket to the lease's TTL (every replica must count with the server's expiry)", async () => {
  const first = await lease('retimed', 'a', natsUrl(), 5_000);
  await first.close();
  const again = await lease('retimed', 'b', natsUrl(), 3_000);
  const nc = await connect({ servers: natsUrl() });
  try {
    const status = await (await new Kvm(nc).open(`${prefix}_lease_retimed`)).status();
    expect(status.ttl).toBe(3_000);
  } finally {
    await nc.close();
  }
  await eventually(() => expect(again.held()).toBe(true), 10_000);
});

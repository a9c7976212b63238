// What the fleet page shows, kept from what it reads: bus events (the event stream), the
// status buckets (constraints, claim states, pod checks) and the services' /metrics. Pure
// and bounded: the server feeds it and sends its snapshot; tests feed it directly.
//
// Per class: whether the claimers claim for it and why not, in flight against its cap,
// the queue where the vm-scaler reports one, stage latencies, endings by reason, retries
// and drops over the window. Per task: one row, one attempt after another, each with the
// times it reached each stage. Per VM pool: desired and ready over time, and the scaler's
// decisions. Only fields named here leave it (the bus already drops unknown keys and
// refuses secret-like ones), so nothing a service might add to a payload shows unseen.
import type { ClaimState, ConstraintStatus, PodCheckResult, ScalerDecision } from '@longshore/contracts';
import type { MetricSample } from '@longshore/runtime/stages';
import { classStatuses } from '../status.ts';
import { formatEvent, type TimelineEvent } from '../timeline.ts';

export interface FleetViewOptions {
  /** How far back counts, latencies and the timeline reach. */
  windowMs: number;
  /** Task rows kept; beyond it the longest-ended rows go first. Default 400. */
  maxTasks?: number;
}

/** A stage a task reached, in the order it reaches them. */
export type StageName = 'queued' | 'claimed' | 'pod-created' | 'running' | 'ended';

export interface AttemptView {
  attempt: number;
  /**
   * When the task went back to the queue before this attempt (released for a retry).
   * Unknown for a first attempt: the claim answer does not say when the task was queued.
   */
  queued_at: string | null;
  claimed_at: string | null;
  pod_created_at: string | null;
  running_at: string | null;
  ended_at: string | null;
  /** How the attempt ended: the event (`reported`, `failed`, `interrupted`, `dropped`) and why. */
  ending: {
    event: 'reported' | 'failed' | 'interrupted' | 'dropped';
    reason: string;
    to_retry: boolean;
  } | null;
  runner: string | null;
  pod: string | null;
  node: string | null;
}

export interface TaskView {
  task_id: string;
  resource_class: string;
  /** The stage of its latest attempt. */
  stage: StageName;
  attempts: AttemptView[];
  /** The last event's time. */
  last_at: string;
}

export interface StageLatency {
  stage: 'pod_created' | 'running' | 'ended' | 'end_to_end';
  count: number;
  p50_ms: number | null;
  p99_ms: number | null;
}

export interface ClassView {
  resource_class: string;
  /**
   * `machine`: a class the vm-scaler sizes a pool for and no claimer of ours claims (the
   * machine runners in the VMs do); `container`: every other.
   */
  kind: 'container' | 'machine';
  /** Whether our claimers claim for it; a machine class: whether anything stops it (never). */
  claiming: boolean;
  /** Why not, one sentence each; empty while claiming. */
  why: string[];
  /** Tasks the claimers hold (their metrics), or the tasks claimed and not ended on the bus. */
  in_flight: number;
  in_flight_source: 'metrics' | 'events';
  /** The claimers' cap for the class (their metrics, summed over claimers); null when unknown. */
  cap: number | null;
  /** The vm-scaler's last poll of the Runner API's queue, for machine classes. */
  queue: { unclaimed: number; running: number; at: string } | null;
  stages: StageLatency[];
  /** `reported`, `failed: image-pull`, ... over the window. */
  endings: Record<string, number>;
  retries: number;
  dropped: number;
  /** The claimers that say what they do for it, and when the checker last looked. */
  claimers: number;
  checked_at: string | null;
}

export interface PoolView {
  resource_class: string;
  pool: string;
  namespace: string;
  desired: number;
  ready: number | null;
  unclaimed: number;
  running: number;
  /** [time ms, value] where the value changed, over the window. */
  desired_series: [number, number][];
  ready_series: [number, number][];
  /** The last decisions that changed the pool, as the tap prints them. */
  decisions: string[];
}

export interface FleetSnapshot {
  now: string;
  window_ms: number;
  since: string;
  classes: ClassView[];
  tasks: TaskView[];
  pools: PoolView[];
  metrics: { sources: number; answering: number; at: string | null };
  events_seen: number;
}

/** A bus event as the view takes it. */
export type ViewEvent = TimelineEvent;

interface TaskEntry {
  view: TaskView;
  events: string[];
  lastMs: number;
  /** When each attempt was released for another: the task went back to the queue then. */
  released: Map<number, string>;
}

interface Timed<T> {
  at: number;
  value: T;
}

const MAX_TASK_EVENTS = 100;
const MAX_DECISIONS = 10;
const STAGE_KINDS: StageLatency['stage'][] = ['pod_created', 'running', 'ended', 'end_to_end'];

const emptyAttempt = (attempt: number): AttemptView => ({
  attempt,
  queued_at: null,
  claimed_at: null,
  pod_created_at: null,
  running_at: null,
  ended_at: null,
  ending: null,
  runner: null,
  pod: null,
  node: null,
});

const ms = (iso: string) => Date.parse(iso);

export class FleetView {
  readonly #windowMs: number;
  readonly #maxTasks: number;
  readonly #tasks = new Map<string, TaskEntry>();
  readonly #constraints = new Map<string, ConstraintStatus>();
  readonly #claimStates = new Map<string, ClaimState>();
  readonly #podChecks = new Map<string, PodCheckResult>();
  /** Per class: stage durations (seconds), endings, retries and drops, by the time they happened. */
  readonly #stages = new Map<string, Timed<{ stage: StageLatency['stage']; seconds: number }>[]>();
  readonly #endings = new Map<string, Timed<string>[]>();
  readonly #retries = new Map<string, number[]>();
  /** Per class: the allocations of dropped claims (a repeated event counts once). */
  readonly #drops = new Map<string, Timed<string>[]>();
  readonly #queues = new Map<string, ScalerDecision>();
  readonly #pools = new Map<string, PoolView>();
  #metrics: { samples: MetricSample[]; sources: number; answering: number; at: number } | null = null;
  #eventsSeen = 0;
  #version = 0;

  constructor(options: FleetViewOptions) {
    this.#windowMs = options.windowMs;
    this.#maxTasks = options.maxTasks ?? 400;
  }

  /** Changes with every input that may change the snapshot (the server sends on change). */
  get version(): number {
    return this.#version;
  }

  applyEvent(e: ViewEvent): void {
    this.#eventsSeen++;
    this.#version++;
    const at = e.payload.at;
    switch (e.name) {
      case 'task.claimed':
      case 'task.scheduled':
      case 'task.running':
      case 'task.reported':
      case 'task.failed':
      case 'task.interrupted':
      case 'task.released':
        this.#taskEvent(e);
        return;
      case 'claim.dropped': {
        const p = e.payload;
        const drops = this.#drops.get(p.resource_class) ?? [];
        if (drops.some((d) => d.value === p.allocation)) return; // a repeat
        push(this.#drops, p.resource_class, { at: ms(at), value: p.allocation });
        if (p.task_id === undefined) return;
        const entry = this.#entry(p.task_id, p.resource_class, at);
        if (entry.view.attempts.length === 0) entry.view.attempts.push(emptyAttempt(1));
        const a = entry.view.attempts.at(-1)!;
        a.ending = { event: 'dropped', reason: `${p.stage}: ${p.outcome}`, to_retry: false };
        a.ended_at = at;
        a.runner = p.runner;
        entry.view.stage = 'ended';
        this.#note(entry, e, at);
        return;
      }
      case 'scaler.decision':
        this.#decision(e.payload, e);
        return;
      case 'constraints.status': // the bucket says the same, and is read from the start
      case 'gc.swept':
      case 'ledger.rebuilt':
        return;
    }
  }

  /** The constraint checker's latest word on a class (its KV bucket); undefined: key deleted. */
  setConstraint(key: string, status: ConstraintStatus | undefined): void {
    this.#version++;
    setOrDelete(this.#constraints, key, status);
  }

  /** A claimer's state for a class (claim-state bucket), by bucket key; undefined: gone. */
  setClaimState(key: string, state: ClaimState | undefined): void {
    this.#version++;
    setOrDelete(this.#claimStates, key, state);
  }

  /** The scheduler's dry run of a class's pod (pod-check bucket); undefined: gone. */
  setPodCheck(key: string, result: PodCheckResult | undefined): void {
    this.#version++;
    setOrDelete(this.#podChecks, key, result);
  }

  /** The samples of every metrics source that answered this round. */
  setMetrics(samples: MetricSample[], sources: number, answering: number, now = Date.now()): void {
    this.#version++;
    this.#metrics = { samples, sources, answering, at: now };
    const ready = sumBy(samples, 'longshore_vm_scaler_ready_vms', Math.max);
    for (const [rc, n] of ready) {
      const pool = this.#pools.get(rc);
      if (pool === undefined) continue;
      pool.ready = n;
      pushChange(pool.ready_series, now, n);
    }
  }

  /** A task's events as `longshore tap` prints them (UTC), oldest first; undefined if unknown. */
  taskEvents(taskId: string): { task: TaskView; lines: string[] } | undefined {
    const entry = this.#tasks.get(taskId);
    return entry === undefined ? undefined : { task: entry.view, lines: [...entry.events] };
  }

  snapshot(now = Date.now()): FleetSnapshot {
    const from = now - this.#windowMs;
    this.forget(now);
    const tasks = [...this.#tasks.values()]
      .sort((a, b) => firstMs(b.view) - firstMs(a.view))
      .map((t) => t.view);
    return {
      now: new Date(now).toISOString(),
      window_ms: this.#windowMs,
      since: new Date(from).toISOString(),
      classes: this.#classes(from),
      tasks,
      pools: [...this.#pools.values()].sort((a, b) => a.resource_class.localeCompare(b.resource_class)),
      metrics: {
        sources: this.#metrics?.sources ?? 0,
        answering: this.#metrics?.answering ?? 0,
        at: this.#metrics === null ? null : new Date(this.#metrics.at).toISOString(),
      },
      events_seen: this.#eventsSeen,
    };
  }

  #taskEvent(e: Extract<ViewEvent, { name: `task.${string}` }>): void {
    const p = e.payload;
    const entry = this.#entry(p.task_id, p.resource_class, p.at);
    const attempts = entry.view.attempts;
    let a = attempts.find((x) => x.attempt === p.attempt);
    if (a === undefined) {
      a = emptyAttempt(p.attempt);
      // The previous attempt's release is when this one went back to the queue (its
      // interruption, which comes first, while the release is not known).
      const before = attempts.filter((x) => x.attempt < p.attempt).at(-1);
      const released = before?.ending?.to_retry ? before.ended_at : null;
      a.queued_at = (before && entry.released.get(before.attempt)) ?? released;
      attempts.push(a);
      attempts.sort((x, y) => x.attempt - y.attempt);
    }
    a.runner = p.runner;
    const rc = p.resource_class;
    switch (e.name) {
      case 'task.claimed':
        a.claimed_at ??= p.at;
        break;
      case 'task.scheduled':
      case 'task.running': {
        a.pod = `${e.payload.namespace}/${e.payload.pod}`;
        a.node = e.payload.node ?? a.node;
        // Each stage is timed once, at its first event: a repeat (read again after the
        // stream was lost a moment) changes nothing.
        const [field, stage, from] =
          e.name === 'task.scheduled'
            ? (['pod_created_at', 'pod_created', a.claimed_at] as const)
            : (['running_at', 'running', a.pod_created_at] as const);
        if (a[field] !== null) break;
        a[field] = p.at;
        this.#stage(rc, stage, from, p.at);
        break;
      }
      case 'task.reported':
      case 'task.failed':
      case 'task.interrupted': {
        if (a.ending !== null) break; // a repeat (another replica, a redelivery)
        const end = e.payload;
        a.ended_at = p.at;
        const event = e.name.slice('task.'.length) as 'reported' | 'failed' | 'interrupted';
        a.ending = { event, reason: end.reason, to_retry: end.to_retry };
        this.#stage(rc, 'ended', a.running_at, p.at);
        this.#stage(rc, 'end_to_end', a.claimed_at, p.at);
        push(this.#endings, rc, { at: ms(p.at), value: endingKey(event, end.reason) });
        break;
      }
      case 'task.released': {
        // Released for another attempt: that attempt starts queued from here.
        a.ended_at ??= p.at;
        a.ending ??= { event: 'interrupted', reason: e.payload.reason, to_retry: true };
        a.ending.to_retry = true;
        if (entry.released.has(p.attempt)) break; // a repeat
        entry.released.set(p.attempt, p.at);
        push(this.#retries, rc, ms(p.at));
        // Another claimer may have taken the task (and said so) before this was published.
        const next = attempts.find((x) => x.attempt === p.attempt + 1);
        if (next !== undefined) next.queued_at = p.at;
        break;
      }
    }
    const latest = attempts.at(-1)!;
    entry.view.stage = stageOf(latest);
    this.#note(entry, e, p.at);
  }

  #entry(taskId: string, resourceClass: string, at: string): TaskEntry {
    let entry = this.#tasks.get(taskId);
    if (entry === undefined) {
      entry = {
        view: { task_id: taskId, resource_class: resourceClass, stage: 'claimed', attempts: [], last_at: at },
        events: [],
        lastMs: ms(at),
        released: new Map(),
      };
      this.#tasks.set(taskId, entry);
      this.#evict();
    }
    return entry;
  }

  #note(entry: TaskEntry, e: ViewEvent, at: string): void {
    if (ms(at) >= entry.lastMs) {
      entry.lastMs = ms(at);
      entry.view.last_at = at;
    }
    entry.events.push(formatEvent(e.name, e.payload as never, { utc: true }));
    if (entry.events.length > MAX_TASK_EVENTS) entry.events.splice(0, entry.events.length - MAX_TASK_EVENTS);
  }

  #stage(rc: string, stage: StageLatency['stage'], from: string | null, to: string): void {
    if (from === null) return;
    const seconds = (ms(to) - ms(from)) / 1000;
    if (!(seconds >= 0)) return;
    push(this.#stages, rc, { at: ms(to), value: { stage, seconds } });
  }

  #decision(d: ScalerDecision, e: ViewEvent): void {
    this.#queues.set(d.resource_class, d);
    let pool = this.#pools.get(d.resource_class);
    if (pool === undefined) {
      pool = {
        resource_class: d.resource_class,
        pool: d.pool,
        namespace: d.namespace,
        desired: d.desired_vms,
        ready: null,
        unclaimed: d.unclaimed_tasks,
        running: d.running_tasks,
        desired_series: [],
        ready_series: [],
        decisions: [],
      };
      this.#pools.set(d.resource_class, pool);
    }
    Object.assign(pool, {
      pool: d.pool,
      namespace: d.namespace,
      desired: d.desired_vms,
      unclaimed: d.unclaimed_tasks,
      running: d.running_tasks,
    });
    pushChange(pool.desired_series, ms(d.at), d.desired_vms);
    if (d.scaled || pool.decisions.length === 0) {
      pool.decisions.push(formatEvent(e.name, e.payload as never, { utc: true }));
      if (pool.decisions.length > MAX_DECISIONS) pool.decisions.shift();
    }
  }

  #classes(from: number): ClassView[] {
    const names = new Set<string>([
      ...[...this.#tasks.values()].map((t) => t.view.resource_class),
      ...[...this.#constraints.values()].map((s) => s.resource_class),
      ...[...this.#claimStates.values()].map((s) => s.resource_class),
      ...[...this.#podChecks.values()].map((s) => s.resource_class),
      ...this.#queues.keys(),
      ...this.#drops.keys(),
    ]);
    const samples = this.#metrics?.samples ?? [];
    const inFlightMetric = sumBy(samples, 'longshore_claimer_class_in_flight');
    const capMetric = sumBy(samples, 'longshore_claimer_class_max_in_flight');
    for (const rc of capMetric.keys()) names.add(rc);
    const open = new Map<string, number>();
    for (const t of this.#tasks.values()) {
      const last = t.view.attempts.at(-1);
      if (last?.claimed_at && last.ending === null)
        open.set(t.view.resource_class, (open.get(t.view.resource_class) ?? 0) + 1);
    }
    const statuses = classStatuses(
      [...this.#constraints.values()],
      new Map(),
      [...this.#claimStates.values()],
      [...this.#podChecks.values()],
    );
    const statusOf = new Map(statuses.map((s) => [s.resource_class, s]));
    return [...names].sort().map((rc): ClassView => {
      const s = statusOf.get(rc);
      const why: string[] = [];
      if (s !== undefined && !s.enabled) why.push(`disabled: ${s.reason || 'by the constraint checker'}`);
      if (s?.token_refused)
        why.push(`token refused since ${s.token_refused.since}: ${s.token_refused.reason}`);
      if (s !== undefined && s.draining > 0 && s.draining === s.claimers)
        why.push(
          `draining: ${s.draining === 1 ? 'its claimer is' : `its ${s.draining} claimers are`} stopping`,
        );
      const queue = this.#queues.get(rc);
      const fromMetrics = inFlightMetric.get(rc);
      const machine = queue !== undefined && capMetric.get(rc) === undefined && (s?.claimers ?? 0) === 0;
      return {
        resource_class: rc,
        kind: machine ? 'machine' : 'container',
        claiming: why.length === 0,
        why,
        in_flight: fromMetrics ?? open.get(rc) ?? 0,
        in_flight_source: fromMetrics === undefined ? 'events' : 'metrics',
        cap: capMetric.get(rc) ?? null,
        queue:
          queue === undefined
            ? null
            : { unclaimed: queue.unclaimed_tasks, running: queue.running_tasks, at: queue.at },
        stages: STAGE_KINDS.map((stage) =>
          latency(
            stage,
            (this.#stages.get(rc) ?? [])
              .filter((x) => x.at >= from && x.value.stage === stage)
              .map((x) => x.value.seconds),
          ),
        ),
        endings: countBy((this.#endings.get(rc) ?? []).filter((x) => x.at >= from).map((x) => x.value)),
        retries: (this.#retries.get(rc) ?? []).filter((t) => t >= from).length,
        dropped: (this.#drops.get(rc) ?? []).filter((t) => t.at >= from).length,
        claimers: s?.claimers ?? 0,
        checked_at: s?.checked_at ?? null,
      };
    });
  }

  /**
   * Drops what is older than the window (and task rows ended before it). snapshot() does it
   * too; a server without browsers calls it so that nothing grows while nobody looks.
   */
  forget(now = Date.now()): void {
    const from = now - this.#windowMs;
    for (const v of this.#stages.values()) dropBefore(v, (x) => x.at, from);
    for (const v of this.#endings.values()) dropBefore(v, (x) => x.at, from);
    for (const v of this.#drops.values()) dropBefore(v, (x) => x.at, from);
    for (const v of this.#retries.values()) dropBefore(v, (x) => x, from);
    // A task back in the queue may wait there long, but past the window it has nothing to show.
    for (const [id, t] of this.#tasks)
      if ((t.view.stage === 'ended' || t.view.stage === 'queued') && t.lastMs < from) this.#tasks.delete(id);
    for (const pool of this.#pools.values())
      for (const series of [pool.desired_series, pool.ready_series]) {
        // Keep the last point before the window: the line starts at the window's edge.
        while (series.length > 1 && series[1]![0] < from) series.shift();
      }
  }

  #evict(): void {
    if (this.#tasks.size <= this.#maxTasks) return;
    const ended = [...this.#tasks.entries()].filter(([, t]) => t.view.stage === 'ended');
    const pool = ended.length > 0 ? ended : [...this.#tasks.entries()];
    pool.sort((a, b) => a[1].lastMs - b[1].lastMs);
    for (const [id] of pool.slice(0, this.#tasks.size - this.#maxTasks)) this.#tasks.delete(id);
  }
}

function stageOf(a: AttemptView): StageName {
  if (a.ending !== null) return a.ending.to_retry ? 'queued' : 'ended';
  if (a.running_at !== null) return 'running';
  if (a.pod_created_at !== null) return 'pod-created';
  if (a.claimed_at !== null) return 'claimed';
  return 'queued';
}

function firstMs(t: TaskView): number {
  const a = t.attempts[0];
  const first =
    a?.queued_at ?? a?.claimed_at ?? a?.pod_created_at ?? a?.running_at ?? a?.ended_at ?? t.last_at;
  return ms(first);
}

function endingKey(event: string, reason: string): string {
  return event === 'reported' && reason === 'reported-in-pod' ? 'reported' : `${event}: ${reason}`;
}

/** Nearest-rank percentiles of the durations, in ms. */
function latency(stage: StageLatency['stage'], seconds: number[]): StageLatency {
  if (seconds.length === 0) return { stage, count: 0, p50_ms: null, p99_ms: null };
  const sorted = [...seconds].sort((a, b) => a - b);
  const at = (q: number) => Math.round(sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]! * 1000);
  return { stage, count: sorted.length, p50_ms: at(0.5), p99_ms: at(0.99) };
}

/** The samples of one metric by resource class, combined over sources (sum, or max). */
function sumBy(
  samples: readonly MetricSample[],
  name: string,
  combine: (a: number, b: number) => number = (a, b) => a + b,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    const rc = s.labels.resource_class;
    if (s.name !== name || rc === undefined || !Number.isFinite(s.value)) continue;
    const had = out.get(rc);
    out.set(rc, had === undefined ? s.value : combine(had, s.value));
  }
  return out;
}

function countBy(keys: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = (out[k] ?? 0) + 1;
  return out;
}

function push<T>(map: Map<string, T[]>, key: string, item: T): void {
  const list = map.get(key) ?? [];
  list.push(item);
  map.set(key, list);
}

function pushChange(series: [number, number][], at: number, value: number): void {
  const last = series.at(-1);
  if (last !== undefined && last[1] === value) return;
  if (last !== undefined && at < last[0]) return; // out of order: a replayed old point
  series.push([at, value]);
}

function dropBefore<T>(list: T[], at: (x: T) => number, from: number): void {
  let i = 0;
  while (i < list.length && at(list[i]!) < from) i++;
  if (i > 0) list.splice(0, i);
}

function setOrDelete<T>(map: Map<string, T>, key: string, value: T | undefined): void {
  if (value === undefined) map.delete(key);
  else map.set(key, value);
}

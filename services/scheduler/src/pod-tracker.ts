// Follows every task pod to its end: watches our pods, publishes each lifecycle change,
// and once a task has ended publishes the ending and removes its pod and Secret. Runner
// API reports and ledger updates for endings are the claimer's (it holds the tokens).
//
// Every replica watches every pod, and a restarted one sees them all again: events carry
// message ids (task, attempt, event), so JetStream drops the repeats.
import { type CoreV1Api, type KubeConfig, makeInformer, type V1Pod } from '@kubernetes/client-node';
import type { Bus } from '@longshore/bus';
import {
  Annotations,
  Labels,
  MANAGED_SELECTOR,
  type TaskEventRef,
  taskFailedEvent,
  taskInterruptedEvent,
  taskReportedEvent,
  taskRunningEvent,
  WARNINGS_ANNOTATION,
} from '@longshore/contracts';
import { isNotFound } from '@longshore/kube';
import type { ClaimLedger } from '@longshore/ledger';
import type { Logger } from '@longshore/logging';
import { every, type Periodic, type TaskStageRecorder } from '@longshore/runtime';
import { type KeptInformer, keepInformer } from '@longshore/runtime/kube';
import { announceScheduled } from './announce.ts';
import { classifyPod, type PodState } from './classify.ts';
import type { SchedulerSettings } from './settings.ts';

/** Task pod names PodTracker.hasSeen remembers. */
export const SEEN_LIMIT = 20_000;

/** At most this many unsafe retries per task (the seeds). */
export const MAX_RETRIES = 3;

export interface PodTrackerDeps {
  kc: KubeConfig;
  core: CoreV1Api;
  bus: Bus;
  ledger: ClaimLedger;
  settings: SchedulerSettings;
  logger: Logger;
  metrics: {
    ended: (outcome: string, reason: string, resourceClass: string) => void;
    /** A task ended to be retried (an unsafe retry), by class and the ending's reason. */
    retried?: (resourceClass: string, reason: string) => void;
    /** The stages from pod created on; observed by the replica whose event the stream kept. */
    stages?: TaskStageRecorder;
  };
  /** How often pending pods are re-examined for timeouts. */
  tickMs?: number;
  /**
   * How long a replica whose ending of a task was a duplicate (another replica published it
   * first) waits before removing the pod and Secret itself: the publishing replica removes
   * them, this one only stands in if they are still there then (that replica died, or its
   * deletes failed). Default 10 s. Both at once cost two needless deletes per task.
   */
  standbyRemovalMs?: number;
}

interface TaskRef {
  taskId: string;
  attempt: number;
  resourceClass: string;
  pod: string;
  warnings?: string[];
  /** Annotations.claimedAt and .launchedAt, when the launcher set them. */
  claimedAt?: string;
  launchedAt?: string;
}

function refOf(pod: V1Pod): TaskRef | undefined {
  const taskId = pod.metadata?.annotations?.[Annotations.taskId];
  const resourceClass = pod.metadata?.annotations?.[Annotations.resourceClass];
  const attempt = Number(pod.metadata?.labels?.[Labels.attempt]);
  const name = pod.metadata?.name;
  if (!taskId || !resourceClass || !name || !Number.isInteger(attempt) || attempt < 1) return undefined;
  const warnings = warningsOf(pod);
  const claimedAt = pod.metadata?.annotations?.[Annotations.claimedAt];
  const launchedAt = pod.metadata?.annotations?.[Annotations.launchedAt];
  return {
    taskId,
    attempt,
    resourceClass,
    pod: name,
    ...(warnings ? { warnings } : {}),
    ...(claimedAt ? { claimedAt } : {}),
    ...(launchedAt ? { launchedAt } : {}),
  };
}

/**
 * The builder's warnings, from the pod's annotation: this tracker may announce a pod before
 * the launcher that created it does, and the first announcement is the one the stream keeps.
 */
/** When the task's first container started (the kubelet's time, to the second), if it did. */
function containerStartedAt(pod: V1Pod): string | undefined {
  const c = pod.status?.containerStatuses?.[0]?.state;
  const at = c?.running?.startedAt ?? c?.terminated?.startedAt;
  return at === undefined ? undefined : new Date(at).toISOString();
}

export function warningsOf(pod: V1Pod): string[] | undefined {
  const text = pod.metadata?.annotations?.[WARNINGS_ANNOTATION];
  if (text === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    if (Array.isArray(v) && v.every((w) => typeof w === 'string')) return v.length > 0 ? v : undefined;
  } catch {
    // an annotation someone else wrote: said below instead
  }
  return [`the pod's ${WARNINGS_ANNOTATION} annotation is not a list of strings`];
}

export class PodTracker {
  readonly #d: PodTrackerDeps;
  /** pod uid -> what we last published for it. */
  readonly #published = new Map<string, 'scheduled' | 'running' | 'ended'>();
  /** Names of task pods this watch has seen, for `hasSeen`: insertion-ordered, bounded. */
  readonly #seen = new Set<string>();
  readonly #inFlight = new Map<string, Promise<void>>();
  /**
   * pod uid -> name, for ended pods whose removal has not gone through yet (the apiserver was
   * away): every pass over the cache tries again. Without it a failed delete left a finished
   * pod and its Secret for good (the GC leaves finished pods to agent.gc.threshold).
   */
  readonly #removeDue = new Map<string, { name: string; notBefore: number }>();
  /** pod uid -> when this process first saw it running (ms): the start of the `ended` stage. */
  readonly #runningSince = new Map<string, number>();
  /**
   * pod uid -> when its ending was published by this replica (the stream kept ours), with
   * what the `cleaned_up` and `end_to_end` stages need once its objects are gone.
   */
  readonly #endedAt = new Map<string, { at: number; ref: TaskRef }>();
  #informer: KeptInformer | undefined;
  #recheck: Periodic | undefined;

  constructor(deps: PodTrackerDeps) {
    this.#d = deps;
  }

  async start(): Promise<void> {
    const { kc, core, settings } = this.#d;
    const ns = settings.namespace;
    const informer = makeInformer<V1Pod>(
      kc,
      `/api/v1/namespaces/${ns}/pods`,
      () => core.listNamespacedPod({ namespace: ns, labelSelector: MANAGED_SELECTOR }),
      MANAGED_SELECTOR,
    );
    informer.on('add', (p) => this.#schedule(p));
    informer.on('update', (p) => this.#schedule(p));
    informer.on('delete', (p) => this.#schedule(p, true));
    // Started once the first list worked (the scheduler is not ready before: it would
    // launch pods it cannot follow), and started again whenever the watch breaks.
    this.#informer = keepInformer(informer, {
      what: `the pod watch of ${ns} at ${kc.getCurrentCluster()?.server ?? 'the apiserver'}`,
      logger: this.#d.logger,
    });
    // Pending pods are re-examined from the watch's cache (timeouts pass without an event).
    // The loop starts with the watch, not once it is up: a stop() that came as the watch came
    // up would otherwise find no loop to stop and leave one running for good. Until the first
    // list the cache is empty and a pass finds nothing.
    const tickMs = this.#d.tickMs ?? 2_000;
    this.#recheck = every(
      tickMs,
      async () => {
        for (const p of informer.list(ns)) this.#schedule(p);
      },
      {
        firstDelayMs: tickMs,
        onError: (err) => this.#d.logger.error({ err }, 're-examining the task pods failed'),
      },
    );
    try {
      await this.#informer.started;
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    await Promise.all([this.#recheck?.stop(), this.#informer?.stop()]);
    await Promise.allSettled([...this.#inFlight.values()]);
  }

  /**
   * Whether this watch has seen a task pod of that name since the process started (the last
   * SEEN_LIMIT of them): the launcher never creates such a pod again, even when the ledger
   * lost the mark that it was launched.
   */
  hasSeen(name: string): boolean {
    return this.#seen.has(name);
  }

  /** Serialises work per pod: events for one pod are handled in order, pods in parallel. */
  #schedule(pod: V1Pod, deleted = false): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    const name = pod.metadata?.name;
    if (name !== undefined && !this.#seen.has(name)) {
      this.#seen.add(name);
      // About 60 bytes a name: the bound keeps it near a megabyte, hours of tasks at bench rates.
      if (this.#seen.size > SEEN_LIMIT) this.#seen.delete(this.#seen.values().next().value as string);
    }
    const prev = this.#inFlight.get(uid) ?? Promise.resolve();
    const next = prev
      .then(() => (deleted ? this.#onDeleted(uid, pod) : this.#onPod(uid, pod)))
      .catch((err: unknown) =>
        this.#d.logger.error({ err, pod: pod.metadata?.name }, 'handling a task pod failed'),
      )
      .finally(() => {
        if (this.#inFlight.get(uid) === next) this.#inFlight.delete(uid);
      });
    this.#inFlight.set(uid, next);
  }

  async #onPod(uid: string, pod: V1Pod): Promise<void> {
    const ref = refOf(pod);
    if (!ref) return;
    if (this.#published.get(uid) === 'ended') {
      if (!pod.metadata?.deletionTimestamp) await this.#removeEnded(uid);
      return;
    }
    if (pod.metadata?.deletionTimestamp) return; // the delete event will tell how it ended
    if (this.#published.get(uid) === undefined) {
      // First sight of this pod (in this process): whoever created it may have died before
      // recording it. Mark its claim launched, so a redelivered claim never creates it again
      // once it has run and gone, and announce it (the msg id drops a repeat).
      await this.#d.ledger.mark(ref.taskId, ref.attempt, 'launched');
      await announceScheduled(this.#d.bus, this.#d.settings, ref);
      this.#published.set(uid, 'scheduled');
    }
    const { imagePullTimeout, unschedulableTimeout } = this.#d.settings.taskPod;
    const state = classifyPod(pod, {
      now: new Date(),
      imagePullTimeoutMs: imagePullTimeout,
      unschedulableTimeoutMs: unschedulableTimeout,
    });
    if (state.kind === 'running' && this.#published.get(uid) === 'scheduled') {
      const seenAt = Date.now();
      if (!this.#runningSince.has(uid)) this.#runningSince.set(uid, seenAt);
      const ev = taskRunningEvent(this.#eventRef(ref), {
        pod: ref.pod,
        namespace: this.#d.settings.namespace,
        node: state.node,
      });
      const sent = await this.#d.bus.publish(ev.subject, ev.payload, { msgId: ev.msgId });
      this.#published.set(uid, 'running');
      if (!sent.duplicate)
        this.#d.metrics.stages?.observe('running', ref.resourceClass, ref.launchedAt, seenAt);
    } else if (state.kind === 'ended') {
      await this.#end(uid, ref, state, pod);
    }
  }

  async #onDeleted(uid: string, pod: V1Pod): Promise<void> {
    const ref = refOf(pod);
    const wasEnded = this.#published.get(uid) === 'ended';
    this.#published.delete(uid);
    this.#runningSince.delete(uid);
    this.#endedAt.delete(uid);
    // The pod is gone; a Secret whose delete failed with it is the GC's (a Secret with no pod).
    this.#removeDue.delete(uid);
    if (!ref || wasEnded) return;
    // Deleted before it ended, and not by us: someone or something removed the pod.
    const last = classifyPod(pod, {
      now: new Date(),
      imagePullTimeoutMs: Infinity,
      unschedulableTimeoutMs: Infinity,
    });
    const state: Extract<PodState, { kind: 'ended' }> =
      last.kind === 'ended'
        ? last
        : {
            kind: 'ended',
            outcome: 'interrupted',
            reason: 'deleted',
            error: 'the task pod was deleted before the task ended',
          };
    await this.#end(uid, ref, state, pod, true);
  }

  async #end(
    uid: string,
    ref: TaskRef,
    state: Extract<PodState, { kind: 'ended' }>,
    pod: V1Pod,
    gone = false,
  ) {
    const { bus, settings } = this.#d;
    const toRetry = state.outcome === 'interrupted' && (await this.#retryAllowed(ref));
    const build = { reported: taskReportedEvent, failed: taskFailedEvent, interrupted: taskInterruptedEvent }[
      state.outcome
    ];
    const ev = build(this.#eventRef(ref), {
      pod: ref.pod,
      namespace: settings.namespace,
      reason: state.reason,
      error: state.error,
      exitCode: state.exitCode,
      toRetry,
    });
    const endedAt = Date.now();
    const sent = await bus.publish(ev.subject, ev.payload, { msgId: ev.msgId });
    this.#published.set(uid, 'ended');
    // Every replica watches every pod: the one whose ending the stream kept counts it.
    if (!sent.duplicate) {
      this.#d.metrics.ended(state.outcome, state.reason, ref.resourceClass);
      if (toRetry) this.#d.metrics.retried?.(ref.resourceClass, state.reason);
      // Running -> ended; a task that never ran is measured from its pod's creation.
      const from = this.#runningSince.get(uid) ?? containerStartedAt(pod) ?? ref.launchedAt;
      this.#d.metrics.stages?.observe('ended', ref.resourceClass, from, endedAt);
    }
    this.#runningSince.delete(uid);
    this.#d.logger.info(
      {
        task_id: ref.taskId,
        attempt: ref.attempt,
        outcome: state.outcome,
        error: state.error,
        'app.to_retry': toRetry,
      },
      'task ended',
    );
    // A pod that reported its own end is not kept: whether its job failed is not known here.
    const keep = settings.taskPod.keepFailedPods && state.outcome !== 'reported' && !toRetry;
    if (!keep) {
      if (!sent.duplicate) this.#endedAt.set(uid, { at: endedAt, ref });
      // A pod on its way out needs only its Secret removed (if that fails, the GC's: no pod).
      if (gone || pod.metadata?.deletionTimestamp !== undefined) {
        await this.#remove(ref.pod, true);
        this.#cleanedUp(uid);
      } else {
        // The replica whose ending the stream kept removes them now; another replica only if
        // they outlive the standby (see standbyRemovalMs).
        const standby = sent.duplicate ? (this.#d.standbyRemovalMs ?? 10_000) : 0;
        this.#removeDue.set(uid, { name: ref.pod, notBefore: Date.now() + standby });
        await this.#removeEnded(uid);
      }
    }
  }

  /** Removes an ended task's pod and Secret once due; a failure leaves them due for the next pass. */
  async #removeEnded(uid: string): Promise<void> {
    const due = this.#removeDue.get(uid);
    if (due === undefined || Date.now() < due.notBefore) return;
    await this.#remove(due.name, false);
    this.#removeDue.delete(uid);
    this.#cleanedUp(uid);
  }

  /** The last stages of a task whose ending this replica published: its objects are gone. */
  #cleanedUp(uid: string): void {
    const ended = this.#endedAt.get(uid);
    if (ended === undefined) return;
    this.#endedAt.delete(uid);
    const now = Date.now();
    this.#d.metrics.stages?.observe('cleaned_up', ended.ref.resourceClass, ended.at, now);
    this.#d.metrics.stages?.observe('end_to_end', ended.ref.resourceClass, ended.ref.claimedAt, now);
  }

  /** Unsafe retries: only if the class allows them and the task has retries left (Redis counter). */
  async #retryAllowed(ref: TaskRef): Promise<boolean> {
    if (!this.#d.settings.resourceClasses[ref.resourceClass]?.enableUnsafeRetries) return false;
    return (await this.#d.ledger.retriesUsed(ref.taskId)) < MAX_RETRIES;
  }

  async #remove(name: string, podGone: boolean): Promise<void> {
    const namespace = this.#d.settings.namespace;
    const quiet = (err: unknown) => {
      if (!isNotFound(err)) throw err;
    };
    // Both at once, one round trip: the pod has ended, nothing reads the Secret any more.
    await Promise.all([
      podGone
        ? undefined
        : this.#d.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }).catch(quiet),
      this.#d.core.deleteNamespacedSecret({ name, namespace }).catch(quiet),
    ]);
  }

  #eventRef(ref: TaskRef): TaskEventRef {
    return { ...ref, runner: this.#d.settings.runnerName };
  }
}

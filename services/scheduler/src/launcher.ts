// Turns each claim into the task's Secret and Pod. Consumes `task.claimed` from JetStream
// and acks only once the pod exists, so a crash at any point redelivers the claim; names
// derive from task id and attempt, so a second create is AlreadyExists, i.e. done.
import type { CoreV1Api } from '@kubernetes/client-node';
import type { Bus, HandlerResult } from '@longshore/bus';
import {
  Annotations,
  type TaskClaimed,
  taskFailedEvent,
  taskInterruptedEvent,
  taskObjectName,
} from '@longshore/contracts';
import { isAlreadyExists, kubeErrorMessage, statusCodeOf } from '@longshore/kube';
import { type ClaimLedger, type ClaimRecord, LedgerCorruptError } from '@longshore/ledger';
import type { Logger, SecretScrubber } from '@longshore/logging';
import type { TaskStageRecorder } from '@longshore/runtime';
import { announceScheduled } from './announce.ts';
import type { ImagePlatforms } from './image-platforms.ts';
import { buildTaskPod, TaskPodError, type TaskPodObjects } from './pod-builder.ts';
import { MAX_RETRIES } from './pod-tracker.ts';
import {
  EcrLoginError,
  type EcrLogins,
  ecrLoginsNeeded,
  fetchEcrLogins,
  type RegistryLogin,
  registrySecrets,
} from './registry-auth.ts';
import type { SchedulerSettings } from './settings.ts';

/**
 * Deliveries of one claim before the launcher gives up creating its pod: with the bus's
 * backoff (1, 5, 15, 60, 60 s) about two and a half minutes of a failing apiserver or Redis.
 * The consumer is configured with the same number, so the last delivery is the one that
 * gives up, and nothing is dropped unseen.
 */
export const LAUNCH_TRIES = 6;

export interface LauncherDeps {
  /** With autodetectPlatform: where an image's OS/arch pairs come from. */
  platforms?: ImagePlatforms;
  /** Where ECR logins come from, for containers with `aws_auth`. */
  ecr?: EcrLogins;
  /** The process's log scrubber: it learns each task's registry passwords and AWS keys while the task is launched. */
  scrubber?: SecretScrubber;
  bus: Bus;
  core: CoreV1Api;
  ledger: ClaimLedger;
  settings: SchedulerSettings;
  logger: Logger;
  metrics: {
    launched: (outcome: string) => void;
    /** The `pod_created` stage (config fetched -> this create returned), once per pod created. */
    stages?: TaskStageRecorder;
  };
  /**
   * Whether this process's pod watch has seen the task pod of that name (alive, or ended and
   * gone): such a pod is never created again, whatever the ledger says. The ledger can lose
   * the step marks a claim had (Redis came back empty, or a replica was promoted without the
   * last writes); the watch still knows.
   */
  seenPod?: (name: string) => boolean;
  /**
   * How long after it was claimed a claim whose record is missing is asked for again rather
   * than dropped as finished: the claimer writes records back after the ledger lost them.
   * Default 60 s.
   */
  recordWaitMs?: number;
}

/** How soon a claim whose record is missing is looked at again. */
const RECORD_RETRY_MS = 5_000;

export class Launcher {
  readonly #d: LauncherDeps;

  constructor(deps: LauncherDeps) {
    this.#d = deps;
  }

  /**
   * Handles one claim; the verdict is the bus's ack decision. A failure is thrown (the claim
   * is redelivered after a backoff) until the last of LAUNCH_TRIES deliveries, which ends the
   * task instead: its slot must not be held, nor the claim re-announced, without end.
   */
  async launch(claim: TaskClaimed, redelivered = 0): Promise<HandlerResult> {
    try {
      return await this.#launch(claim);
    } catch (err) {
      if (redelivered + 1 < LAUNCH_TRIES) throw err;
      return this.#giveUp(claim, err);
    }
  }

  async #launch(claim: TaskClaimed): Promise<HandlerResult> {
    const { ledger, settings, logger } = this.#d;
    const log = logger.child({ task_id: claim.task_id, attempt: claim.attempt });
    let rec: ClaimRecord | undefined;
    try {
      rec = await ledger.get(claim.task_id);
    } catch (err) {
      // An unreadable record cannot be launched, and redelivering the claim changes nothing:
      // fail the task (the claimer reports it from what it holds in memory).
      if (!(err instanceof LedgerCorruptError)) throw err;
      return this.#reject(claim, `its claim record in the ledger cannot be read back (${err.message})`);
    }
    const young = Date.now() - Date.parse(claim.at) < (this.#d.recordWaitMs ?? 60_000);
    if (rec === undefined && young) {
      // A young claim with no record: if the ledger lost it, its claimer writes it back
      // within seconds; if it was finished already, waiting costs nothing.
      this.#d.metrics.launched('waiting-for-record');
      return { nak: RECORD_RETRY_MS };
    }
    if (rec === undefined || rec.attempt !== claim.attempt) {
      // Finished, released or superseded meanwhile: nothing to launch.
      this.#d.metrics.launched('stale');
      return 'ack';
    }
    if (rec.launched || this.#d.seenPod?.(taskObjectName(claim.task_id, claim.attempt))) {
      // A redelivery: the pod was created (and may have run and gone), so never create it
      // again; announce it once more in case the crash came before that (msg id dedupes).
      await this.#announce(claim, taskObjectName(claim.task_id, claim.attempt));
      this.#d.metrics.launched('already-launched');
      return 'ack';
    }
    const token = await ledger.token(claim.task_id);
    if (token === undefined && young) {
      // A token cannot have expired this soon: the ledger lost it (a failover that kept the
      // record but not the token), and the claimer writes both back within seconds. Acking
      // now would strand the claim: nobody would announce it again until gc's claim grace.
      this.#d.metrics.launched('waiting-for-record');
      return { nak: RECORD_RETRY_MS };
    }
    if (token === undefined) {
      log.warn('claim has no task token left (expired); not launching');
      this.#d.metrics.launched('no-token');
      return 'ack';
    }
    const classConfig = settings.resourceClasses[rec.resourceClass];
    if (classConfig === undefined) {
      return this.#reject(claim, `resource class ${rec.resourceClass} is not configured on this scheduler`);
    }
    // The task's registry passwords and AWS keys are secrets the logs must not show while
    // they are handled here (an apiserver or SDK error could quote one).
    const secrets = registrySecrets(rec.task);
    for (const x of secrets) this.#d.scrubber?.add(x);
    let objects: TaskPodObjects;
    try {
      let registryLogins: Record<number, RegistryLogin> | undefined;
      try {
        registryLogins = await this.#ecrLogins(rec.task, taskObjectName(claim.task_id, claim.attempt));
      } catch (err) {
        if (err instanceof EcrLoginError || err instanceof TaskPodError)
          return this.#reject(claim, err.message);
        throw err;
      }
      for (const l of Object.values(registryLogins ?? {})) {
        this.#d.scrubber?.add(l.password);
        secrets.push(l.password);
      }
      const image = rec.task.containers[0]?.image;
      const platforms = image && this.#d.platforms ? await this.#d.platforms.platformsOf(image) : undefined;
      try {
        objects = buildTaskPod({
          taskId: rec.taskId,
          attempt: rec.attempt,
          resourceClass: rec.resourceClass,
          allocation: rec.allocation,
          token,
          task: rec.task,
          classConfig,
          settings: {
            namespace: settings.namespace,
            runnerApiUrl: settings.runnerApiUrl,
            maxRunTimeMs: settings.maxRunTimeMs,
            taskPod: settings.taskPod,
            ...(platforms ? { platforms } : {}),
          },
          ...(registryLogins ? { registryLogins } : {}),
        });
      } catch (err) {
        if (err instanceof TaskPodError) return this.#reject(claim, err.message);
        throw err;
      }
      // The Secret and the Pod are created at once: one apiserver round trip per claim, not
      // two. The pod needs the Secret only when the kubelet sets up its containers, long after
      // both requests have returned (and the kubelet retries a missing Secret). If either is
      // refused, #reject deletes both; if either fails otherwise, the claim is redelivered and
      // whichever exists already answers AlreadyExists.
      const namespace = settings.namespace;
      // Times for the stages, readable by every replica's pod watch (pod-tracker.ts).
      objects.pod.metadata!.annotations = {
        ...objects.pod.metadata!.annotations,
        [Annotations.claimedAt]: rec.claimedAt,
        [Annotations.launchedAt]: new Date().toISOString(),
      };
      const [secret, pod] = await Promise.allSettled([
        this.#d.core.createNamespacedSecret({ namespace, body: objects.secret }),
        this.#d.core.createNamespacedPod({ namespace, body: objects.pod }),
      ]);
      if (secret.status === 'rejected' && !isAlreadyExists(secret.reason)) {
        return this.#kubeFailure(claim, secret.reason, 'task Secret');
      }
      if (pod.status === 'rejected' && !isAlreadyExists(pod.reason)) {
        return this.#kubeFailure(claim, pod.reason, 'task pod');
      }
      // Created here (not found there already, by a redelivery or the other replica).
      if (pod.status === 'fulfilled')
        this.#d.metrics.stages?.observe('pod_created', rec.resourceClass, rec.configFetchedAt);
    } finally {
      for (const x of secrets) this.#d.scrubber?.delete(x);
    }
    if (objects.warnings.length > 0)
      log.warn({ warnings: objects.warnings }, 'task pod differs from the job config');
    await ledger.mark(claim.task_id, claim.attempt, 'launched');
    await this.#announce(claim, objects.pod.metadata!.name!, objects.warnings);
    this.#d.metrics.launched('created');
    return 'ack';
  }

  /** ECR logins for the task's containers with aws_auth; undefined when it has none. */
  async #ecrLogins(
    task: ClaimRecord['task'],
    sessionName: string,
  ): Promise<Record<number, RegistryLogin> | undefined> {
    const needs = ecrLoginsNeeded(task);
    if (needs.length === 0) return undefined;
    if (this.#d.ecr === undefined) throw new EcrLoginError('this scheduler has no way to get ECR logins');
    return fetchEcrLogins(needs, this.#d.ecr, sessionName);
  }

  #announce(claim: TaskClaimed, pod: string, warnings?: readonly string[]): Promise<void> {
    const t = {
      taskId: claim.task_id,
      resourceClass: claim.resource_class,
      attempt: claim.attempt,
      pod,
      ...(warnings ? { warnings } : {}),
    };
    return announceScheduled(this.#d.bus, this.#d.settings, t);
  }

  /** A 4xx is the apiserver refusing what we built: the task fails with its message. 5xx retries. */
  async #kubeFailure(claim: TaskClaimed, err: unknown, what: string): Promise<HandlerResult> {
    const code = statusCodeOf(err);
    if (code !== undefined && code >= 400 && code < 500 && code !== 429) {
      return this.#reject(claim, `the cluster rejected the ${what}: ${kubeErrorMessage(err)}`);
    }
    throw err;
  }

  /**
   * The pod could not be created in LAUNCH_TRIES deliveries: the task never started, so it
   * ends as interrupted (given back for another attempt where the class allows retries,
   * failed otherwise, by the claimer that holds it).
   */
  async #giveUp(claim: TaskClaimed, err: unknown): Promise<HandlerResult> {
    const { settings } = this.#d;
    const error = `the task pod could not be created in ${LAUNCH_TRIES} tries: ${kubeErrorMessage(err)}`;
    const retries = await this.#d.ledger.retriesUsed(claim.task_id).catch(() => MAX_RETRIES);
    const toRetry =
      settings.resourceClasses[claim.resource_class]?.enableUnsafeRetries === true && retries < MAX_RETRIES;
    this.#d.logger.error(
      { task_id: claim.task_id, attempt: claim.attempt, error, 'app.to_retry': toRetry },
      'giving up on a task pod',
    );
    const ev = taskInterruptedEvent(this.#ref(claim), {
      namespace: settings.namespace,
      reason: 'agent-not-started',
      error,
      toRetry,
    });
    await this.#d.bus.publish(ev.subject, ev.payload, { msgId: ev.msgId });
    const name = taskObjectName(claim.task_id, claim.attempt);
    const namespace = settings.namespace;
    await Promise.all([
      this.#d.core.deleteNamespacedSecret({ name, namespace }).catch(() => {}),
      this.#d.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }).catch(() => {}),
    ]);
    this.#d.metrics.launched('gave-up');
    return 'ack';
  }

  async #reject(claim: TaskClaimed, error: string): Promise<HandlerResult> {
    const { settings } = this.#d;
    this.#d.logger.warn({ task_id: claim.task_id, attempt: claim.attempt, error }, 'task pod rejected');
    // The verdict first: if the apiserver took the pod (and refused the Secret), deleting it
    // makes the pod tracker announce an interrupted end under the same msg id, which the
    // stream then drops as a repeat of this one.
    const ev = taskFailedEvent(this.#ref(claim), { reason: 'rejected', error, toRetry: false });
    await this.#d.bus.publish(ev.subject, ev.payload, { msgId: ev.msgId });
    // Whichever of the two the apiserver took (the other is a 404, ignored). One left by a
    // crash here is the GC's.
    const name = taskObjectName(claim.task_id, claim.attempt);
    const namespace = settings.namespace;
    await Promise.all([
      this.#d.core.deleteNamespacedSecret({ name, namespace }).catch(() => {}),
      this.#d.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }).catch(() => {}),
    ]);
    this.#d.metrics.launched('rejected');
    return 'ack';
  }

  /** The claim as the events this launcher publishes name it (the scheduler's runner). */
  #ref(claim: TaskClaimed) {
    return {
      taskId: claim.task_id,
      resourceClass: claim.resource_class,
      attempt: claim.attempt,
      runner: this.#d.settings.runnerName,
    };
  }
}

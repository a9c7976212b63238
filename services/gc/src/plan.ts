// What one GC sweep should do, decided from what it listed: which of our pods and Secrets
// to delete, and which ledger claims have lost their pod. Pure, so every rule is tested
// directly; the sweeper only lists, calls this, and acts.
import { Labels, MANAGED_BY, taskObjectName } from '@longshore/contracts';
import type { ClaimRecord } from '@longshore/ledger';

/** The parts of a pod or Secret the plan looks at. */
export interface ObjectInfo {
  name: string;
  uid: string;
  labels: Record<string, string>;
  /** creationTimestamp, ms since the epoch. */
  createdAt: number;
  /** Pods only: status.phase. */
  phase?: string;
}

export interface SweepInput {
  pods: ObjectInfo[];
  secrets: ObjectInfo[];
  claims: ClaimRecord[];
  now: number;
  /** agent.gc.threshold: anything of ours older than this goes. */
  thresholdMs: number;
  /** A claim with no pod for this long is re-announced or interrupted. */
  claimGraceMs: number;
  /** A task pod with no claim, or a task Secret with no pod, must be this old to go. */
  orphanGraceMs: number;
  /**
   * When the ledger's current generation started (ms). After Redis lost the ledger, every
   * pod looks claimless until the claimers have written their claims back, so the orphan
   * grace of a pod counts from whichever is later: its creation or this.
   */
  ledgerSince?: number;
}

export type DeleteReason = 'expired' | 'orphaned';

export interface Deletion {
  name: string;
  uid: string;
  reason: DeleteReason;
}

export interface SweepPlan {
  pods: Deletion[];
  secrets: Deletion[];
  /** Claims never launched and with no pod: announce them again so a launcher picks them up. */
  reannounce: ClaimRecord[];
  /** Claims launched whose pod is gone: end them as interrupted ('lost'). */
  interrupt: ClaimRecord[];
}

/** Ours = carries our managed-by label. Re-checked on every object, whatever the list selector said. */
export function isManaged(o: Pick<ObjectInfo, 'labels'>): boolean {
  return o.labels[Labels.managedBy] === MANAGED_BY;
}

/** A task's pod or Secret (as opposed to anything else we might label). */
function isTaskObject(o: ObjectInfo): boolean {
  return o.labels[Labels.taskId] !== undefined;
}

const TERMINAL = new Set(['Succeeded', 'Failed']);

export function planSweep(input: SweepInput): SweepPlan {
  const { now } = input;
  const age = (o: ObjectInfo) => now - o.createdAt;
  const since =
    input.ledgerSince !== undefined && !Number.isNaN(input.ledgerSince) ? input.ledgerSince : -Infinity;
  const orphanAge = (o: ObjectInfo) => now - Math.max(o.createdAt, since);
  const podNames = new Set(input.pods.map((p) => p.name));
  const claimsByObject = new Map(input.claims.map((c) => [taskObjectName(c.taskId, c.attempt), c]));

  const pods: Deletion[] = [];
  for (const p of input.pods) {
    if (!isManaged(p)) continue;
    if (age(p) > input.thresholdMs) pods.push({ name: p.name, uid: p.uid, reason: 'expired' });
    // A live task pod nobody has claimed: its claim was lost. A finished one is left to the
    // threshold, so agent.taskPod.keepFailedPods keeps working; the grace covers the
    // launcher, which creates the pod right after the claim is filed.
    else if (
      isTaskObject(p) &&
      !claimsByObject.has(p.name) &&
      !TERMINAL.has(p.phase ?? '') &&
      orphanAge(p) > input.orphanGraceMs
    )
      pods.push({ name: p.name, uid: p.uid, reason: 'orphaned' });
  }

  const secrets: Deletion[] = [];
  for (const s of input.secrets) {
    if (!isManaged(s)) continue;
    if (age(s) > input.thresholdMs) {
      secrets.push({ name: s.name, uid: s.uid, reason: 'expired' });
      continue;
    }
    if (!isTaskObject(s) || podNames.has(s.name) || age(s) <= input.orphanGraceMs) continue;
    // The launcher creates the Secret, then the pod: a claim not launched yet still needs it.
    const claim = claimsByObject.get(s.name);
    if (claim !== undefined && !claim.launched) continue;
    secrets.push({ name: s.name, uid: s.uid, reason: 'orphaned' });
  }

  const reannounce: ClaimRecord[] = [];
  const interrupt: ClaimRecord[] = [];
  for (const c of input.claims) {
    if (podNames.has(taskObjectName(c.taskId, c.attempt))) continue;
    const claimedAt = Date.parse(c.claimedAt);
    if (Number.isNaN(claimedAt) || now - claimedAt <= input.claimGraceMs) continue;
    (c.launched ? interrupt : reannounce).push(c);
  }
  return { pods, secrets, reannounce, interrupt };
}

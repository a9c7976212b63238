// The GC's metrics, on the registry it is given. Its Kubernetes requests are counted with
// every service's (longshore_gc_kube_requests_total{verb,resource,outcome}, by
// @longshore/runtime), as are its ledger operations and bus publishes.
import { Counter, Histogram, type Registry } from 'prom-client';

export class GcMetrics {
  readonly sweeps: Counter<'outcome'>;
  readonly deleted: Counter<'kind' | 'reason'>;
  readonly claims: Counter<'action'>;
  readonly duration: Histogram;
  readonly ledgerLosses: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.sweeps = new Counter({
      name: 'longshore_gc_sweeps_total',
      help: 'GC ticks by outcome: completed, stopped, failed, or skipped (another replica held the lease)',
      labelNames: ['outcome'],
      registers,
    });
    this.deleted = new Counter({
      name: 'longshore_gc_deleted_total',
      help: 'Objects the GC deleted, by kind (pod, secret) and reason (expired, orphaned)',
      labelNames: ['kind', 'reason'],
      registers,
    });
    // From 0, so that the first deletion is an increase to rate() and increase().
    for (const kind of ['pod', 'secret'])
      for (const reason of ['expired', 'orphaned']) this.deleted.inc({ kind, reason }, 0);
    this.claims = new Counter({
      name: 'longshore_gc_claims_total',
      help: 'Claims without a pod the GC re-announced or interrupted',
      labelNames: ['action'],
      registers,
    });
    this.ledgerLosses = new Counter({
      name: 'longshore_gc_ledger_losses_total',
      help: 'Sweeps that found the claim ledger started again (Redis lost its data) since the sweep before',
      registers,
    });
    this.duration = new Histogram({
      name: 'longshore_gc_sweep_duration_seconds',
      help: 'Duration of GC sweeps',
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900],
      registers,
    });
  }
}

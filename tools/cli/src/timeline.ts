// How `longshore tap` shows bus events: one line per event, columns lined up so that a
// task's events read as a timeline, plain text (no colour) so that grep, less and CI logs
// take it as is. Pure: tap.ts does the I/O.
//
//   12:03:04.123  task 3f2a9c1d…  #1  claimed      acme/small  runner=runner-a
//   12:03:05.001  task 3f2a9c1d…  #1  running      acme/small  pod=tasks/ccita-… node=kwok-1 runner=runner-a
//   12:03:09.310  task 3f2a9c1d…  #1  reported     acme/small  exit_code=0 pod=tasks/ccita-… runner=runner-a
//   12:03:10.000  gc                  swept        pods=2 secrets=2 reannounced=0 interrupted=1 errors=0 took=120ms runner=gc-0
//
// Only fields named here are printed, whatever else a payload might carry: the bus
// already refuses secret-like keys, and this keeps an added field from showing up unseen.
import type { AnySubjectDef, PayloadOf } from '@longshore/contracts';

type EventOf<D> = D extends AnySubjectDef ? { name: D['name']; payload: PayloadOf<D> } : never;
/** Any event of the bus: its subject name (relative to the prefix) and its payload. */
export type TimelineEvent = EventOf<AnySubjectDef>;
export type EventName = TimelineEvent['name'];
export type PayloadFor<N extends EventName> = Extract<TimelineEvent, { name: N }>['payload'];

export interface FormatOptions {
  /** Print times in UTC rather than local time (tests, logs from several zones). */
  utc?: boolean;
}

const ID_CHARS = 8;
const WHO_WIDTH = 'task '.length + ID_CHARS + 1;
const EVENT_WIDTH = 'interrupted'.length;
const ERROR_CHARS = 200;

/** One line for one event. */
export function formatEvent<N extends EventName>(
  name: N,
  payload: PayloadFor<N>,
  opts: FormatOptions = {},
): string {
  // Re-joined so that switching on the name narrows the payload.
  const e = { name, payload } as TimelineEvent;
  const time = formatTime(e.payload.at, opts.utc ?? false);
  switch (e.name) {
    case 'task.claimed':
    case 'task.scheduled':
    case 'task.running':
    case 'task.reported':
    case 'task.failed':
    case 'task.interrupted':
    case 'task.released': {
      const p = e.payload;
      const head = [
        time,
        `task ${shortTaskId(p.task_id)}`.padEnd(WHO_WIDTH),
        `#${p.attempt}`.padEnd(2),
        e.name.slice('task.'.length).padEnd(EVENT_WIDTH),
        p.resource_class,
      ];
      return joinLine(head, [...taskDetails(e), field('runner', p.runner)]);
    }
    case 'gc.swept': {
      const p = e.payload;
      return joinLine(
        [time, 'gc'.padEnd(WHO_WIDTH), ''.padEnd(2), 'swept'.padEnd(EVENT_WIDTH)],
        [
          field('pods', p.pods_deleted),
          field('secrets', p.secrets_deleted),
          field('reannounced', p.claims_reannounced),
          field('interrupted', p.claims_interrupted),
          field('errors', p.errors),
          field('took', `${Math.round(p.duration_ms)}ms`),
          field('runner', p.runner),
        ],
      );
    }
    case 'scaler.decision': {
      const p = e.payload;
      return joinLine(
        [time, 'scaler'.padEnd(WHO_WIDTH), ''.padEnd(2), 'decision'.padEnd(EVENT_WIDTH), p.resource_class],
        [
          field('unclaimed', p.unclaimed_tasks),
          field('running', p.running_tasks),
          field('desired', p.desired_vms),
          field('was', p.previous_vms ?? 'unknown'),
          p.scaled ? 'scaled' : 'unchanged',
          field('pool', `${p.namespace}/${p.pool}`),
        ],
      );
    }
    case 'claim.dropped': {
      const p = e.payload;
      const who =
        p.task_id === undefined ? `claim ${shortTaskId(p.allocation)}` : `task ${shortTaskId(p.task_id)}`;
      return joinLine(
        [time, who.padEnd(WHO_WIDTH), ''.padEnd(2), 'dropped'.padEnd(EVENT_WIDTH), p.resource_class],
        [
          field('stage', p.stage),
          field('outcome', p.outcome),
          field('error', clip(p.error)),
          field('allocation', p.allocation),
          field('runner', p.runner),
        ],
      );
    }
    case 'ledger.rebuilt': {
      const p = e.payload;
      return joinLine(
        [time, 'ledger'.padEnd(WHO_WIDTH), ''.padEnd(2), 'rebuilt'.padEnd(EVENT_WIDTH)],
        [
          field('claims', p.restored_claims),
          field('pending', p.restored_pending),
          field('errors', p.errors),
          field('since', p.generation_since),
          field('runner', p.runner),
        ],
      );
    }
    case 'constraints.status': {
      const p = e.payload;
      return joinLine(
        [time, 'constraints'.padEnd(WHO_WIDTH), ''.padEnd(2), 'status'.padEnd(EVENT_WIDTH), p.resource_class],
        [
          p.enabled ? 'enabled' : 'disabled',
          field('failures', p.consecutive_failures),
          p.reason === '' ? undefined : field('reason', clip(p.reason)),
        ],
      );
    }
  }
}

/** The notable fields of each task event, in the order a reader looks for them. */
function taskDetails(e: Extract<TimelineEvent, { name: `task.${string}` }>): Array<string | undefined> {
  switch (e.name) {
    case 'task.claimed':
      return [];
    case 'task.scheduled':
    case 'task.running':
      return [
        field('pod', `${e.payload.namespace}/${e.payload.pod}`),
        field('node', e.payload.node),
        // What the pod could not give the job as asked: the one place a user sees it.
        ...(e.payload.warnings ?? []).map((w) => field('warning', clip(w))),
      ];
    case 'task.reported':
    case 'task.failed':
    case 'task.interrupted': {
      const p = e.payload;
      return [
        // `reported` says it all: the orchestrator exited 0 (what it reported is the Runner API's).
        e.name === 'task.reported' && p.reason === 'reported-in-pod' ? undefined : field('reason', p.reason),
        field('exit_code', p.exit_code),
        field('error', p.error === undefined ? undefined : clip(p.error)),
        p.to_retry ? field('to_retry', true) : undefined,
        field('pod', p.pod === undefined || p.namespace === undefined ? p.pod : `${p.namespace}/${p.pod}`),
      ];
    }
    case 'task.released':
      return [field('reason', e.payload.reason), field('retries_used', e.payload.retries_used)];
  }
}

/** Whether an event passes `--task` (an id or a prefix of one) and `--resource-class`. */
export function matchesFilters(
  payload: TimelineEvent['payload'],
  filters: { task?: string | undefined; resourceClass?: string | undefined },
): boolean {
  if (filters.task !== undefined) {
    // A short id copied from a timeline line ends in "…".
    const wanted = filters.task.replace(/…$/, '');
    if (!('task_id' in payload) || payload.task_id === undefined || !payload.task_id.startsWith(wanted))
      return false;
  }
  if (filters.resourceClass !== undefined) {
    if (!('resource_class' in payload) || payload.resource_class !== filters.resourceClass) return false;
  }
  return true;
}

/** The first characters of a task id, enough to tell a screenful of tasks apart. */
export function shortTaskId(id: string): string {
  return id.length <= ID_CHARS + 1 ? id : `${id.slice(0, ID_CHARS)}…`;
}

/** `HH:MM:SS.mmm`; the date is left out: a tap covers minutes, not days. */
export function formatTime(iso: string, utc: boolean): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const parts = utc
    ? [d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
    : [d.getHours(), d.getMinutes(), d.getSeconds()];
  const ms = utc ? d.getUTCMilliseconds() : d.getMilliseconds();
  return `${parts.map((n) => String(n).padStart(2, '0')).join(':')}.${String(ms).padStart(3, '0')}`;
}

/** `key=value`, the value quoted when it has spaces or odd characters; none when absent. */
function field(key: string, value: string | number | boolean | undefined): string | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  return `${key}=${/^[\w.:/@+-]+$/.test(text) ? text : JSON.stringify(text)}`;
}

/** Errors can be whole stack traces; one line of a timeline is not the place for that. */
function clip(text: string): string {
  return text.length <= ERROR_CHARS ? text : `${text.slice(0, ERROR_CHARS)}…`;
}

function joinLine(head: string[], details: Array<string | undefined>): string {
  const rest = details.filter((d): d is string => d !== undefined && d !== '');
  return [...head, ...(rest.length > 0 ? [rest.join(' ')] : [])].join('  ').trimEnd();
}

// Kubernetes API requests counted outside Longshore: the test bed's apiserver writes an
// audit event (Metadata level) for every request of the bench users and of no one else
// (testbed/src/pki.ts, up.ts). Each service runs as its own bench user, so requests are
// counted per service; kwok's, kube-scheduler's and concurrent tests' are not in the log.
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

export interface AuditRequest {
  user: string;
  verb: string;
  /** resource[/subresource], e.g. pods, secrets, virtualmachinepools/scale */
  resource: string;
  code: number | undefined;
  at: number;
}

export interface RequestCounts {
  writes: number;
  reads: number;
  /** "verb resource" -> count */
  byKind: Record<string, number>;
}

/** Whether the running apiserver writes our audit log (a test bed started before it did, does not). */
export function auditEnabled(pidFile: string): boolean {
  try {
    const pid = readFileSync(pidFile, 'utf8').trim();
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--audit-policy-file');
  } catch {
    return false;
  }
}

/** Reads the audit events appended since mark(). */
export class AuditLog {
  readonly #file: string;
  #offset = 0;

  constructor(file: string) {
    this.#file = file;
  }

  mark(): void {
    this.#offset = existsSync(this.#file) ? statSync(this.#file).size : 0;
  }

  /** Requests logged since the mark, one per audit id (a watch logs two stages). */
  read(): AuditRequest[] {
    if (!existsSync(this.#file)) return [];
    const size = statSync(this.#file).size;
    // Rotated meanwhile (2 GB): what is left of this run is in the new file.
    const from = size < this.#offset ? 0 : this.#offset;
    const buf = Buffer.alloc(size - from);
    const fd = openSync(this.#file, 'r');
    try {
      readSync(fd, buf, 0, buf.length, from);
    } finally {
      closeSync(fd);
    }
    const seen = new Set<string>();
    const out: AuditRequest[] = [];
    for (const line of buf.toString('utf8').split('\n')) {
      if (!line) continue;
      let e: {
        auditID?: string;
        verb?: string;
        user?: { username?: string };
        objectRef?: { resource?: string; subresource?: string };
        responseStatus?: { code?: number };
        requestReceivedTimestamp?: string;
      };
      try {
        e = JSON.parse(line);
      } catch {
        continue; // a line being written as we read
      }
      if (!e.auditID || seen.has(e.auditID)) continue;
      seen.add(e.auditID);
      const r = e.objectRef;
      out.push({
        user: e.user?.username ?? '?',
        verb: e.verb ?? '?',
        resource: r?.resource ? (r.subresource ? `${r.resource}/${r.subresource}` : r.resource) : '(none)',
        code: e.responseStatus?.code,
        at: Date.parse(e.requestReceivedTimestamp ?? ''),
      });
    }
    return out;
  }
}

export function countRequests(reqs: readonly AuditRequest[]): RequestCounts {
  const byKind: Record<string, number> = {};
  let writes = 0;
  let reads = 0;
  for (const r of reqs) {
    if (WRITE_VERBS.has(r.verb)) writes++;
    else reads++;
    const k = `${r.verb} ${r.resource}`;
    byKind[k] = (byKind[k] ?? 0) + 1;
  }
  return { writes, reads, byKind };
}

/** Counts per user. */
export function countByUser(reqs: readonly AuditRequest[]): Record<string, RequestCounts> {
  const users = [...new Set(reqs.map((r) => r.user))].sort();
  return Object.fromEntries(users.map((u) => [u, countRequests(reqs.filter((r) => r.user === u))]));
}

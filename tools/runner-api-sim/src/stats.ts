// Request counts per Runner API endpoint and status, injected faults included, so a
// benchmark can work out how many Runner API requests the runner spent per task.
import type { FaultEndpoint } from './faults.ts';

export type EndpointStats = Record<string, number>;

export interface RequestStatsSnapshot {
  /** endpoint -> HTTP status -> count */
  requests: Partial<Record<FaultEndpoint, EndpointStats>>;
  total_runner_api_requests: number;
}

export class RequestStats {
  #requests = new Map<FaultEndpoint, Map<number, number>>();
  #total = 0;

  record(endpoint: FaultEndpoint, status: number): void {
    let byStatus = this.#requests.get(endpoint);
    if (byStatus === undefined) {
      byStatus = new Map();
      this.#requests.set(endpoint, byStatus);
    }
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    this.#total++;
  }

  snapshot(): RequestStatsSnapshot {
    const requests: RequestStatsSnapshot['requests'] = {};
    for (const [endpoint, byStatus] of this.#requests) {
      requests[endpoint] = Object.fromEntries([...byStatus].map(([status, n]) => [String(status), n]));
    }
    return { requests, total_runner_api_requests: this.#total };
  }

  reset(): void {
    this.#requests.clear();
    this.#total = 0;
  }
}

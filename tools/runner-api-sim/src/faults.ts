// Fault injection for the Runner API endpoints: what a flaky CircleCI looks like to a
// runner (slow answers, 5xx, bodies that do not parse, rate limits). A faulted request
// is answered by the fault *instead of* the real handler, so it never changes task state;
// only `latency` lets the request through afterwards.
import { z } from 'zod';

export const FAULT_ENDPOINTS = [
  'claim',
  'unclaim',
  'taskConfig',
  'fail',
  'unclaimedCount',
  'runningCount',
] as const;
export type FaultEndpoint = (typeof FAULT_ENDPOINTS)[number];

const common = {
  endpoint: z.enum([...FAULT_ENDPOINTS, '*']),
  /** How many requests the rule applies to; unlimited when absent. */
  times: z.number().int().min(1).optional(),
  probability: z.number().min(0).max(1).default(1),
};

export const FaultRule = z.discriminatedUnion('kind', [
  z.object({ ...common, kind: z.literal('latency'), ms: z.number().int().min(0).max(600_000) }),
  z.object({ ...common, kind: z.literal('status'), status: z.number().int().min(400).max(599) }),
  z.object({ ...common, kind: z.literal('garbage') }),
  z.object({ ...common, kind: z.literal('rate-limit'), retry_after_s: z.number().int().min(0).default(1) }),
]);
export type FaultRule = z.infer<typeof FaultRule>;
export type FaultRuleInput = z.input<typeof FaultRule>;

export const FaultRules = z.object({ rules: z.array(FaultRule) });

/** A rule as listed by the admin API: `remaining` counts down from `times`. */
export type ActiveFaultRule = FaultRule & { remaining?: number };

export interface GarbageBody {
  contentType: string;
  body: string;
}

/** Rotated through so a client meets every kind of broken body, not just one. */
export const GARBAGE_BODIES: readonly GarbageBody[] = [
  { contentType: 'text/html', body: '<html><body><h1>502 Bad Gateway</h1></body></html>' },
  { contentType: 'application/json', body: '{"unexpected":true,"items":[1,2,3]}' },
  { contentType: 'application/json', body: '{"task_token": "abc", "allocation' },
  { contentType: 'application/json', body: '[null, "not an object"]' },
];

export type FaultResponse =
  | { kind: 'status'; status: number }
  | { kind: 'garbage'; body: GarbageBody }
  | { kind: 'rate-limit'; retryAfterS: number };

export interface FaultDecision {
  /** Sum of all matching latency rules. */
  delayMs: number;
  /** The first matching non-latency rule's answer; absent = let the request through. */
  response?: FaultResponse;
}

/** The current rules and their remaining budgets. */
export class FaultBook {
  #rules: ActiveFaultRule[] = [];
  #garbageServed = 0;
  readonly #random: () => number;

  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  replace(rules: readonly FaultRule[]): void {
    this.#rules = rules.map((r) => (r.times === undefined ? { ...r } : { ...r, remaining: r.times }));
    this.#garbageServed = 0;
  }

  clear(): void {
    this.replace([]);
  }

  list(): ActiveFaultRule[] {
    return this.#rules.map((r) => ({ ...r }));
  }

  /** Decides, and spends one of `times`, for one request to `endpoint`. */
  decide(endpoint: FaultEndpoint): FaultDecision {
    const decision: FaultDecision = { delayMs: 0 };
    for (const rule of this.#rules) {
      if (rule.endpoint !== '*' && rule.endpoint !== endpoint) continue;
      if (rule.remaining !== undefined && rule.remaining <= 0) continue;
      // Only one rule can answer; later answering rules are not spent.
      if (rule.kind !== 'latency' && decision.response !== undefined) continue;
      if (this.#random() >= rule.probability) continue;
      if (rule.remaining !== undefined) rule.remaining--;
      if (rule.kind === 'latency') decision.delayMs += rule.ms;
      else decision.response = this.#answer(rule);
    }
    return decision;
  }

  #answer(rule: Exclude<FaultRule, { kind: 'latency' }>): FaultResponse {
    switch (rule.kind) {
      case 'status':
        return { kind: 'status', status: rule.status };
      case 'rate-limit':
        return { kind: 'rate-limit', retryAfterS: rule.retry_after_s };
      case 'garbage': {
        const body = GARBAGE_BODIES[this.#garbageServed++ % GARBAGE_BODIES.length]!;
        return { kind: 'garbage', body };
      }
    }
  }
}

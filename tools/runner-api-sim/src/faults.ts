// Fault injection for the Runner API endpoints: what a flaky or hostile CircleCI looks
// like to a runner (slow answers, 5xx, bodies that do not parse, rate limits, answers of
// any size, bodies that trickle in). A faulted request is answered by the fault *instead
// of* the real handler, so it never changes task state; only `latency` and `dribble` let
// the request through.
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

/** A generated body can be huge (a "no size limit" test wants 50 MB); it is streamed, never held. */
export const MAX_GENERATED_BODY_BYTES = 1024 ** 3;

export const FaultRule = z.discriminatedUnion('kind', [
  z.object({ ...common, kind: z.literal('latency'), ms: z.number().int().min(0).max(600_000) }),
  z.object({ ...common, kind: z.literal('status'), status: z.number().int().min(400).max(599) }),
  z.object({ ...common, kind: z.literal('garbage') }),
  z.object({ ...common, kind: z.literal('rate-limit'), retry_after_s: z.number().int().min(0).default(1) }),
  /** Answers this instead of the real answer: `body` as given, or `body_bytes` generated. */
  z
    .object({
      ...common,
      kind: z.literal('respond'),
      status: z.number().int().min(200).max(599).default(200),
      content_type: z
        .string()
        .regex(/^[\x20-\x7e]+$/, 'must be printable ASCII (it is a header value)')
        .default('application/json'),
      body: z.string().optional(),
      body_bytes: z.number().int().min(0).max(MAX_GENERATED_BODY_BYTES).optional(),
      /** false: no Content-Length, the body goes chunked (a client cannot know its size up front). */
      content_length: z.boolean().default(true),
    })
    .refine((r) => r.body === undefined || r.body_bytes === undefined, {
      message: 'give body or body_bytes, not both',
      path: ['body_bytes'],
    }),
  /**
   * Sends the headers, then the body `chunk_bytes` at a time every `interval_ms`: the real
   * answer (the request goes through), or a `respond` rule's when one answers too.
   */
  z.object({
    ...common,
    kind: z.literal('dribble'),
    chunk_bytes: z
      .number()
      .int()
      .min(1)
      .max(1024 * 1024)
      .default(1),
    interval_ms: z.number().int().min(1).max(600_000),
  }),
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
  | { kind: 'rate-limit'; retryAfterS: number }
  | {
      kind: 'respond';
      status: number;
      contentType: string;
      /** A literal body, or the size of a generated one. */
      body: string | { bytes: number };
      contentLength: boolean;
    };

export interface Dribble {
  chunkBytes: number;
  intervalMs: number;
}

export interface FaultDecision {
  /** Sum of all matching latency rules. */
  delayMs: number;
  /** The first matching rule's answer (not latency, not dribble); absent = let the request through. */
  response?: FaultResponse;
  /** The first matching dribble rule: how slowly to send whatever answer goes out. */
  dribble?: Dribble;
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
      // Only one rule can answer and one dribble; later ones of the same part are not spent.
      if (
        rule.kind === 'dribble'
          ? decision.dribble !== undefined
          : rule.kind !== 'latency' && decision.response !== undefined
      ) {
        continue;
      }
      if (this.#random() >= rule.probability) continue;
      if (rule.remaining !== undefined) rule.remaining--;
      if (rule.kind === 'latency') decision.delayMs += rule.ms;
      else if (rule.kind === 'dribble')
        decision.dribble = { chunkBytes: rule.chunk_bytes, intervalMs: rule.interval_ms };
      else decision.response = this.#answer(rule);
    }
    return decision;
  }

  #answer(rule: Exclude<FaultRule, { kind: 'latency' | 'dribble' }>): FaultResponse {
    switch (rule.kind) {
      case 'respond':
        return {
          kind: 'respond',
          status: rule.status,
          contentType: rule.content_type,
          body: rule.body_bytes === undefined ? (rule.body ?? '') : { bytes: rule.body_bytes },
          contentLength: rule.content_length,
        };
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

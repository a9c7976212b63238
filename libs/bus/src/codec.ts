// Bytes <-> payloads, validated both ways against the subject's zod schema. Publishing
// sends the schema's *output* (defaults applied, unknown keys stripped), so what crosses
// the bus is exactly what the contract says.
import type { z } from 'zod';
import { BusSecretError, BusValidationError } from './errors.ts';
import { findSecretKeys } from './secrets.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export type RejectReason = 'not-json' | 'invalid' | 'unknown-subject';

export type Decoded<T> =
  | { readonly ok: true; readonly payload: T }
  | {
      readonly ok: false;
      readonly reason: Exclude<RejectReason, 'unknown-subject'>;
      /** `path (code)` per schema issue: safe to log, holds no values. */
      readonly issues: readonly string[];
    };

/**
 * Checks a payload for secrets and against its schema, and serialises it; throws otherwise.
 * `subject` names the destination in errors (a subject, or a KV bucket and key).
 */
export function encodePayload(schema: z.ZodType, subject: string, payload: unknown): Uint8Array {
  const secrets = findSecretKeys(payload);
  if (secrets.length > 0) throw new BusSecretError(subject, secrets);
  const r = schema.safeParse(payload);
  if (!r.success) {
    throw new BusValidationError(
      subject,
      r.error.issues.map((i) => `${issuePath(i.path)}: ${i.message}`),
      { cause: r.error },
    );
  }
  return encoder.encode(JSON.stringify(r.data));
}

/** Parses and validates a received message; never throws. */
export function decodePayload<S extends z.ZodType>(schema: S, data: Uint8Array): Decoded<z.output<S>> {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch {
    return { ok: false, reason: 'not-json', issues: [] };
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    return {
      ok: false,
      reason: 'invalid',
      issues: r.error.issues.map((i) => `${issuePath(i.path)} (${i.code})`),
    };
  }
  return { ok: true, payload: r.data as z.output<S> };
}

function issuePath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(root)' : path.map(String).join('.');
}

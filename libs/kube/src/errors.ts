// Reading the errors client-node 2.x throws. A failed API call throws ApiException with
// `code` (the HTTP status) and `body`, which is the apiserver's Status object as JSON text
// (undefined for 401). Watches reject with an Error carrying `statusCode`. These helpers
// turn either into the few outcomes our services branch on, and into the apiserver's own
// words for reports (why a pod was rejected).
import { STATUS_CODES } from 'node:http';
import { ApiException } from '@kubernetes/client-node';

/** The parts of a metav1.Status we use. */
export interface KubeStatus {
  readonly code?: number;
  /** Machine-readable reason: NotFound, AlreadyExists, Conflict, Invalid, Forbidden, ... */
  readonly reason?: string;
  /** The apiserver's human-readable explanation. */
  readonly message?: string;
  readonly details?: unknown;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function isApiException(err: unknown): err is ApiException<unknown> {
  return (
    err instanceof ApiException ||
    (isObject(err) && typeof err.code === 'number' && 'body' in err && 'headers' in err)
  );
}

/** The apiserver's Status from an error, if the error carries one. */
export function kubeStatusOf(err: unknown): KubeStatus | undefined {
  if (!isObject(err)) return undefined;
  let body: unknown = err.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  if (!isObject(body) || (body.kind !== 'Status' && typeof body.reason !== 'string')) return undefined;
  return {
    ...(typeof body.code === 'number' ? { code: body.code } : {}),
    ...(typeof body.reason === 'string' ? { reason: body.reason } : {}),
    ...(typeof body.message === 'string' ? { message: body.message } : {}),
    ...(body.details !== undefined ? { details: body.details } : {}),
  };
}

/** The HTTP status of a failed Kubernetes call, or undefined for other errors (network, bugs). */
export function statusCodeOf(err: unknown): number | undefined {
  if (isApiException(err)) return err.code;
  if (isObject(err) && typeof err.statusCode === 'number') return err.statusCode;
  return kubeStatusOf(err)?.code;
}

export function isNotFound(err: unknown): boolean {
  return statusCodeOf(err) === 404;
}

/** A create found the object already there: for our idempotent creates, this means done. */
export function isAlreadyExists(err: unknown): boolean {
  if (statusCodeOf(err) !== 409) return false;
  const status = kubeStatusOf(err);
  if (status?.reason !== undefined) return status.reason === 'AlreadyExists';
  return /already exists/i.test(status?.message ?? '');
}

/** An update lost a race (stale resourceVersion): re-read and retry. Not AlreadyExists. */
export function isConflict(err: unknown): boolean {
  return statusCodeOf(err) === 409 && !isAlreadyExists(err);
}

/** The apiserver rejected the object as invalid (422), e.g. a resource class's pod spec. */
export function isInvalid(err: unknown): boolean {
  return statusCodeOf(err) === 422;
}

/** A watch's resourceVersion is too old (410): list again and restart the watch. */
export function isGone(err: unknown): boolean {
  return statusCodeOf(err) === 410;
}

/**
 * A one-line explanation fit for logs and task failure reports: the apiserver's Status
 * message when there is one (`Pod "x" is invalid: spec.containers[0].image: Required
 * value`), else the HTTP status, else the error's message. ApiException's own message is
 * avoided: it embeds the response headers and body as JSON.
 */
export function kubeErrorMessage(err: unknown): string {
  const status = kubeStatusOf(err);
  if (status?.message) return status.message;
  const code = statusCodeOf(err);
  if (code !== undefined) {
    const text = `HTTP ${code} ${STATUS_CODES[code] ?? ''}`.trimEnd();
    const body = isObject(err) && typeof err.body === 'string' ? err.body.trim() : '';
    return body ? `${text}: ${body.length > 200 ? `${body.slice(0, 200)}...` : body}` : text;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

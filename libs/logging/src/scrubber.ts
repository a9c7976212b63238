// Defence in depth for logs: redaction by key (logger.ts) misses a token that ends up in a
// message, an error text or an unexpected field. The scrubber knows the secret values
// themselves (resource class tokens, task tokens, API tokens, registered as they become
// known) and replaces them in every serialized line before it is written.

/** Secrets shorter than this are not registered: they would match ordinary text. */
export const MIN_SECRET_LENGTH = 6;

export const REDACTED = '[redacted]';

/**
 * A registry of literal secret values, and the function that removes them from text.
 * One per process, passed to whoever learns secrets and to the logger (no global).
 */
export class SecretScrubber {
  // Reference counts, so two owners of the same value (a token shared by two resource
  // classes) can each unregister without exposing it for the other.
  readonly #counts = new Map<string, number>();
  #pattern: RegExp | undefined;

  /** Registers a secret. Values shorter than MIN_SECRET_LENGTH are ignored (returns false). */
  add(secret: string): boolean {
    if (secret.length < MIN_SECRET_LENGTH) return false;
    const n = this.#counts.get(secret) ?? 0;
    this.#counts.set(secret, n + 1);
    if (n === 0) this.#pattern = undefined;
    return true;
  }

  /** Unregisters one registration of a secret; it is scrubbed until the last one is gone. */
  delete(secret: string): void {
    const n = this.#counts.get(secret);
    if (n === undefined) return;
    if (n > 1) {
      this.#counts.set(secret, n - 1);
      return;
    }
    this.#counts.delete(secret);
    this.#pattern = undefined;
  }

  has(secret: string): boolean {
    return this.#counts.has(secret);
  }

  /** Number of distinct secrets registered. */
  get size(): number {
    return this.#counts.size;
  }

  /** Replaces every registered secret in `text` with "[redacted]". Runs on every log line. */
  scrub(text: string): string {
    if (this.#counts.size === 0) return text;
    this.#pattern ??= this.#compile();
    return text.replace(this.#pattern, REDACTED);
  }

  #compile(): RegExp {
    const forms = new Set<string>();
    for (const secret of this.#counts.keys()) {
      forms.add(secret);
      // Log lines are JSON: a secret with quotes, backslashes or control characters
      // appears there in its escaped form.
      forms.add(JSON.stringify(secret).slice(1, -1));
    }
    // Longest first, so a secret that contains another is replaced whole.
    const alternatives = [...forms].sort((a, b) => b.length - a.length).map(escapeRegExp);
    return new RegExp(alternatives.join('|'), 'g');
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

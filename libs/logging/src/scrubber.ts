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
  /** Every form to look for, longest first; rebuilt on the first scrub after a change. */
  #forms: string[] | undefined;

  /** Registers a secret. Values shorter than MIN_SECRET_LENGTH are ignored (returns false). */
  add(secret: string): boolean {
    if (secret.length < MIN_SECRET_LENGTH) return false;
    const n = this.#counts.get(secret) ?? 0;
    this.#counts.set(secret, n + 1);
    if (n === 0) this.#forms = undefined;
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
    this.#forms = undefined;
  }

  has(secret: string): boolean {
    return this.#counts.has(secret);
  }

  /** Number of distinct secrets registered. */
  get size(): number {
    return this.#counts.size;
  }

  /**
   * Replaces every registered secret in `text` with "[redacted]". Runs on every log line.
   *
   * One `includes` per form, longest first, rather than one regular expression of all of
   * them: a claimer registers a task token per claim and drops it at the claim's end, so the
   * set changes between almost every two lines, and compiling an alternation of a hundred
   * or more tokens for each line was the claimer's largest cost (a fifth of its CPU at 100
   * tasks in flight). A literal search is fast, and a line holds no secret nearly always.
   */
  scrub(text: string): string {
    if (this.#counts.size === 0) return text;
    this.#forms ??= this.#build();
    let out = text;
    for (const form of this.#forms) if (out.includes(form)) out = out.replaceAll(form, REDACTED);
    return out;
  }

  #build(): string[] {
    const forms = new Set<string>();
    for (const secret of this.#counts.keys()) {
      forms.add(secret);
      // Log lines are JSON: a secret with quotes, backslashes or control characters
      // appears there in its escaped form.
      forms.add(JSON.stringify(secret).slice(1, -1));
    }
    // Longest first, so a secret that contains another is replaced whole.
    return [...forms].sort((a, b) => b.length - a.length);
  }
}

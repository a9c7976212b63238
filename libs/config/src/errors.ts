// The one error a bad configuration produces. Its message is what an operator sees when a
// service refuses to start, so it names the source (file path), every key at fault and why,
// and never a secret's value.

/** One problem found in a configuration: the key path ('' for the file as a whole) and why. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

/** A configuration that cannot be read, parsed or validated. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** The file path, or a description such as "<defaults and environment>". */
  readonly source: string;
  readonly issues: readonly ConfigIssue[];

  constructor(source: string, issues: readonly ConfigIssue[], options?: { cause?: unknown }) {
    super(formatMessage(source, issues), options);
    this.source = source;
    this.issues = issues;
  }
}

function formatMessage(source: string, issues: readonly ConfigIssue[]): string {
  const lines = issues.map((i) => oneLine(i.path ? `${i.path}: ${i.message}` : i.message));
  if (lines.length === 1) return `invalid config ${source}: ${lines[0]}`;
  return [`invalid config ${source}: ${lines.length} problems:`, ...lines.map((l) => `  ${l}`)].join('\n');
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, '; ');
}

/**
 * A key path as people write it: `agent.maxRunTime`, `provisioner.resourceClasses[0].name`,
 * and keys that are not plain identifiers (resource class names) in brackets:
 * `agent.resourceClasses["my-org/rc"].token`.
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}

// The key tables of docs/config.md, made from the config schema's JSON Schema and the
// descriptions on its keys (keyDoc in schema.ts), so the reference says what the code
// accepts. Only the tables are generated; each sits between two marker comments, and the
// prose around them is written by hand.
import { DOC_META_PREFIX, inputJsonSchema, type JsonSchema } from './json-schema.ts';
import { LongshoreConfig } from './schema.ts';

/** docs/config.md lacks a table's markers, or has them out of order. */
export class ConfigTablesError extends Error {
  override readonly name = 'ConfigTablesError';
}

interface TableSpec {
  /** The name in the markers. */
  readonly id: string;
  /** Where the keys are: a path of property names and `*` (a record's or list's entries). */
  readonly at: readonly string[];
  /** How the key column spells a key: with its full path, or bare. */
  readonly prefix: string;
  /** Blocks whose keys are listed one by one (agent.gc.enabled, ...), not as one row. */
  readonly expand?: readonly string[];
  readonly lastColumn: 'source' | 'notes';
}

const TABLES: readonly TableSpec[] = [
  {
    id: 'agent',
    at: ['agent'],
    prefix: 'agent.',
    expand: ['gc', 'constraintChecker', 'idleWait', 'taskPod'],
    lastColumn: 'source',
  },
  { id: 'agent-resource-class', at: ['agent', 'resourceClasses', '*'], prefix: '', lastColumn: 'source' },
  { id: 'provisioner', at: ['provisioner'], prefix: 'provisioner.', lastColumn: 'source' },
  { id: 'provisioner-class', at: ['provisioner', 'resourceClasses', '*'], prefix: '', lastColumn: 'source' },
  {
    id: 'own-blocks',
    at: [],
    prefix: '',
    expand: ['bus', 'redis', 'kube', 'http', 'logging'],
    lastColumn: 'notes',
  },
];

const START = (id: string) => `<!-- generated table: ${id} (npm run generate) -->`;
const END = '<!-- end of generated table -->';

/** `doc` (docs/config.md) with every key table replaced by what the schema says now. */
export function spliceConfigTables(doc: string): string {
  const schema = inputJsonSchema(LongshoreConfig);
  let out = doc;
  for (const spec of TABLES) {
    const start = out.indexOf(START(spec.id));
    const end = start < 0 ? -1 : out.indexOf(END, start);
    if (start < 0 || end < 0) {
      throw new ConfigTablesError(
        `docs/config.md has no markers for table ${spec.id}: ${START(spec.id)} ... ${END}`,
      );
    }
    const table = renderTable(spec, schema);
    out = `${out.slice(0, start)}${START(spec.id)}\n${table}\n${out.slice(end)}`;
  }
  return out;
}

function renderTable(spec: TableSpec, root: JsonSchema): string {
  const block = spec.at.reduce<JsonSchema>((node, step) => child(node, step), root);
  const rows: string[][] = [];
  const only = spec.at.length === 0 ? spec.expand : undefined;
  for (const [name, prop] of Object.entries(properties(block))) {
    if (only !== undefined && !only.includes(name)) continue;
    if (spec.expand?.includes(name)) {
      for (const [inner, p] of Object.entries(properties(prop))) {
        rows.push(row(`${spec.prefix}${name}.${inner}`, p, isRequired(prop, inner)));
      }
    } else {
      rows.push(row(`${spec.prefix}${name}`, prop, isRequired(block, name)));
    }
  }
  const head = ['key', 'type', 'default', spec.lastColumn];
  return [head, head.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

function row(key: string, p: JsonSchema, required: boolean): string[] {
  const meta = (k: string) => p[`${DOC_META_PREFIX}${k}`] as string | undefined;
  const type = meta('type') ?? typePhrase(p);
  const described = typeof p.description === 'string' ? `${type}: ${p.description}` : type;
  const fallback = required ? 'required' : defaultText(p);
  return [`\`${key}\``, cell(described), cell(meta('default') ?? fallback), cell(meta('source') ?? '')];
}

function isRequired(block: JsonSchema, key: string): boolean {
  return Array.isArray(block.required) && block.required.includes(key);
}

/** How the docs name a JSON Schema type: `integer ≥ 1`, `integer 1–5`, `boolean`, ... */
export function typePhrase(p: JsonSchema): string {
  const types = (Array.isArray(p.type) ? p.type : [p.type]).filter((t) => t !== 'null' && t !== undefined);
  const type = types[0];
  if (Array.isArray(p.enum)) return p.enum.map((v) => `\`${String(v)}\``).join(', ');
  if (type === 'integer' || type === 'number') {
    const min = p.minimum as number | undefined;
    const max = p.maximum as number | undefined;
    if (p.exclusiveMinimum !== undefined) return `${type} > ${String(p.exclusiveMinimum)}`;
    if (min !== undefined && max !== undefined) return `${type} ${min}–${max}`;
    if (min !== undefined) return `${type} ≥ ${min}`;
    return type;
  }
  if (type === 'object') return 'mapping';
  if (type === 'array') return 'list';
  return typeof type === 'string' ? type : 'any';
}

function defaultText(p: JsonSchema): string {
  if (!('default' in p)) return 'unset';
  const d = p.default;
  return `\`${typeof d === 'string' ? (d === '' ? '""' : d) : JSON.stringify(d)}\``;
}

/** A table cell: pipes escaped, as Markdown tables need. */
function cell(text: string): string {
  return text.replaceAll('|', '\\|');
}

function child(node: JsonSchema, step: string): JsonSchema {
  if (step === '*') {
    const entries = (node.additionalProperties ?? node.items) as JsonSchema | undefined;
    if (entries === undefined)
      throw new ConfigTablesError('a table path names entries of something with none');
    return entries;
  }
  const next = properties(node)[step];
  if (next === undefined) throw new ConfigTablesError(`the config schema has no key ${step}`);
  return next;
}

function properties(node: JsonSchema): Record<string, JsonSchema> {
  return (node.properties ?? {}) as Record<string, JsonSchema>;
}

// The configuration schema as JSON Schema (draft 7, which Helm validates values with), made
// by zod's own toJSONSchema from what a file may contain (the input side). Two things zod
// cannot know are added by metadata on the schemas themselves: Go durations (duration.ts)
// and the patterns of checks written as code. What is tidied here is only what zod writes
// for its own sake: JS's safe-integer bounds, its `starts_with` format, regex flags, and
// the `{}` that means "anything" for opaque mappings.
import { z } from 'zod';

export type JsonSchema = { [key: string]: unknown };

/** Metadata keys that only the docs tables read; the chart schema leaves them out. */
export const DOC_META_PREFIX = 'x-doc-';

/** The metadata of one key, for the docs tables (config-tables.ts). */
export interface KeyDoc {
  /** What the key does; it is also the key's description in the chart schema. */
  readonly description?: string;
  /** Where the key comes from: "seed 000", "Longshore extension", ... */
  readonly source?: string;
  /** The default as the docs say it, where the schema's own default does not say it well. */
  readonly default?: string;
  /** The type as the docs say it, where the JSON Schema's type does not say it well. */
  readonly type?: string;
}

/** The zod metadata for a documented key: `schema.meta(keyDoc({...}))`. */
export function keyDoc(doc: KeyDoc): Record<string, string> {
  const meta: Record<string, string> = {};
  if (doc.description !== undefined) meta.description = doc.description;
  if (doc.source !== undefined) meta[`${DOC_META_PREFIX}source`] = doc.source;
  if (doc.default !== undefined) meta[`${DOC_META_PREFIX}default`] = doc.default;
  if (doc.type !== undefined) meta[`${DOC_META_PREFIX}type`] = doc.type;
  return meta;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * What a file may hold for `schema`, as draft-7 JSON Schema. A block drops a key set to null
 * (blocks.ts), so null is allowed where it changes nothing visible: for an optional key
 * without a default, and for mappings and lists. A scalar with a default stays one type, so
 * Helm's message for a wrong one reads "got number, want string". Objects keep zod's
 * `additionalProperties` as it is (the chart decides how strict it is).
 */
export function inputJsonSchema(schema: z.ZodType): JsonSchema {
  const json = z.toJSONSchema(schema, {
    io: 'input',
    target: 'draft-07',
    // Transforms (durations, URLs) are described by their metadata instead.
    unrepresentable: 'any',
    override: ({ zodSchema, jsonSchema }) => {
      const checks = (zodSchema._zod.def as { checks?: { _zod: { def: { pattern?: unknown } } }[] }).checks;
      for (const check of checks ?? []) {
        const p = check._zod.def.pattern;
        if (p instanceof RegExp && p.flags.includes('i') && jsonSchema.pattern === p.source) {
          jsonSchema.pattern = caseInsensitivePattern(p.source);
        }
      }
    },
  }) as JsonSchema;
  return tidy(json);
}

function tidy(node: JsonSchema): JsonSchema {
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if ((key === 'maximum' && value === MAX_SAFE) || (key === 'minimum' && value === -MAX_SAFE)) continue;
    // zod's own format name for startsWith; its pattern says the same in JSON Schema.
    if (key === 'format' && value === 'starts_with') continue;
    out[key] = value;
  }
  // A record of anything (z.record(z.string(), z.unknown())) is just a mapping.
  if (isSchema(out.propertyNames) && isAnything(out.propertyNames, 'string')) delete out.propertyNames;
  if (isSchema(out.additionalProperties) && isAnything(out.additionalProperties))
    delete out.additionalProperties;
  if (isSchema(out.properties)) {
    const required = new Set(Array.isArray(out.required) ? (out.required as string[]) : []);
    const props: JsonSchema = {};
    for (const [name, prop] of Object.entries(out.properties)) {
      const p = tidy(prop as JsonSchema);
      props[name] = required.has(name) || ('default' in p && !isContainer(p)) ? p : withNull(p);
    }
    out.properties = props;
  }
  for (const key of ['additionalProperties', 'items', 'propertyNames'] as const) {
    if (isSchema(out[key])) out[key] = tidy(out[key] as JsonSchema);
  }
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    if (Array.isArray(out[key])) out[key] = (out[key] as JsonSchema[]).map(tidy);
  }
  return out;
}

/** `schema` that also takes null (as unset), where it names its type. */
export function withNull(schema: JsonSchema): JsonSchema {
  const type = schema.type;
  if (typeof type === 'string' && type !== 'null') return { ...schema, type: [type, 'null'] };
  if (Array.isArray(type) && !type.includes('null')) return { ...schema, type: [...type, 'null'] };
  return schema;
}

/** A mapping or a list: YAML's `key:` with nothing after it is the empty one, as for Helm. */
function isContainer(schema: JsonSchema): boolean {
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  return types.includes('object') || types.includes('array');
}

function isSchema(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isAnything(schema: JsonSchema, orType?: string): boolean {
  const keys = Object.keys(schema);
  return keys.length === 0 || (keys.length === 1 && schema.type === orType);
}

/** A regex that cannot be written without its flags. */
export class PatternError extends Error {
  override readonly name = 'PatternError';
}

/**
 * Rewrites a case-insensitive regex source for JSON Schema, which has no flags: each
 * letter range in a character class gains its other case, each letter outside one becomes
 * a class of both cases. Escapes are kept as written (an escaped letter is a class like
 * `\d`, not a letter).
 */
export function caseInsensitivePattern(source: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i] as string;
    if (c === '\\') {
      out += c + (source[i + 1] ?? '');
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      const range = /^([a-zA-Z])-([a-zA-Z])/.exec(source.slice(i));
      if (range) {
        const [all, from = '', to = ''] = range;
        const other = (s: string) => (s === s.toLowerCase() ? s.toUpperCase() : s.toLowerCase());
        out += `${all}${other(from)}-${other(to)}`;
        i += all.length - 1;
        continue;
      }
      if (/[a-zA-Z]/.test(c)) {
        out += c.toLowerCase() + c.toUpperCase();
        continue;
      }
      out += c;
      continue;
    }
    if (c === '[') {
      if (source[i + 1] === '^')
        throw new PatternError(`cannot rewrite a negated class without flags: ${source}`);
      inClass = true;
      out += c;
      continue;
    }
    out += /[a-zA-Z]/.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : c;
  }
  return out;
}

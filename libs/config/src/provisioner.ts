// The provisioner's resource classes, in one list whatever form the config used: seed 002's
// single `provisioner.resourceClass`, our `provisioner.resourceClasses`, and the Secret
// named by `provisioner.existingSecret` (keys `circle-token` and `config.yaml`).
import { ResourceClassName } from '@longshore/contracts';
import { z } from 'zod';
import { block } from './blocks.ts';
import { optionalDuration } from './duration.ts';
import { ConfigError } from './errors.ts';
import { parseConfig } from './load.ts';
import { defaultVmSpec, type LongshoreConfig, PROVISIONER_DEFAULTS } from './schema.ts';
import { tokenProblem } from './values.ts';

/** One provisioner resource class, normalised. */
export interface ProvisionerClass {
  readonly name: string;
  /** Runner token put into each VM; undefined only while the existing Secret is not yet read. */
  readonly token: string | undefined;
  /** VM idle timeout in ms; undefined means VMs wait for a job forever. */
  readonly idleTimeout: number | undefined;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  /** KubeVirt VirtualMachineInstance spec. */
  readonly spec: Record<string, unknown>;
}

/** The `config.yaml` of an existing Secret, as seed 002 shows it: classes keyed by name. */
export const ProvisionerSecretConfig = block(
  {
    resourceClass: z
      .record(
        ResourceClassName,
        block(
          {
            token: z
              .string()
              .min(1)
              .superRefine((t, ctx) => {
                const problem = tokenProblem(t);
                if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
              }),
            idleTimeout: optionalDuration(),
            minReplicas: z.int().min(0).optional(),
            maxReplicas: z.int().min(0).optional(),
            spec: z.record(z.string(), z.unknown()).optional(),
          },
          { unknownKeys: 'lenient' },
        ),
      )
      .refine((m) => Object.keys(m).length > 0, 'must name at least one resource class'),
  },
  { unknownKeys: 'lenient' },
);
export type ProvisionerSecretConfig = z.output<typeof ProvisionerSecretConfig>;

/** What an existing Secret provides. */
export interface ProvisionerSecret {
  readonly circleToken: string;
  readonly config: ProvisionerSecretConfig;
}

/**
 * Reads the decoded data of the Secret named by `provisioner.existingSecret`. Throws
 * ConfigError naming the Secret and key (never a value) when a key is missing or invalid.
 */
export function parseProvisionerSecret(
  data: Readonly<Record<string, string>>,
  secretName: string,
): ProvisionerSecret {
  const circleToken = data['circle-token']?.trim();
  const configYaml = data['config.yaml'];
  const source = `secret ${secretName}`;
  const missing = [
    ...(circleToken ? [] : ['circle-token']),
    ...(configYaml === undefined ? ['config.yaml'] : []),
  ];
  if (missing.length > 0 || circleToken === undefined || configYaml === undefined) {
    throw new ConfigError(
      source,
      missing.map((k) => ({ path: '', message: `key ${k} is missing or empty` })),
    );
  }
  // Trimmed above: a Secret made from a file often ends in a newline. Anything else invisible is wrong.
  const problem = tokenProblem(circleToken);
  if (problem !== undefined)
    throw new ConfigError(source, [{ path: '', message: `key circle-token ${problem}` }]);
  const config = parseConfig({
    schema: ProvisionerSecretConfig,
    text: configYaml,
    source: `${source} key config.yaml`,
    env: {},
  });
  return { circleToken, config };
}

/**
 * The provisioner's resource classes as one list. With an existing Secret, its config.yaml
 * is the list (seed 002: values' tokens are then ignored); settings it leaves out come from
 * a class of the same name in the values, else the defaults.
 */
export function provisionerClasses(cfg: LongshoreConfig, secret?: ProvisionerSecret): ProvisionerClass[] {
  const p = cfg.provisioner;
  if (!p) return [];
  const fromValues = [...(p.resourceClass ? [p.resourceClass] : []), ...p.resourceClasses];
  if (!secret) {
    return fromValues.map((c) => ({
      name: c.name,
      token: p.existingSecret === undefined ? c.token : undefined,
      idleTimeout: c.idleTimeout,
      minReplicas: c.minReplicas,
      maxReplicas: c.maxReplicas,
      spec: c.spec,
    }));
  }
  const source = `secret ${p.existingSecret ?? '(existing)'} key config.yaml`;
  const inSecret = secret.config.resourceClass;
  const orphans = fromValues.filter((c) => !(c.name in inSecret));
  if (orphans.length > 0) {
    throw new ConfigError(
      source,
      orphans.map((c) => ({
        path: `resourceClass[${JSON.stringify(c.name)}]`,
        message: 'missing: the values configure this resource class but the Secret has no token for it',
      })),
    );
  }
  const out: ProvisionerClass[] = [];
  for (const [name, s] of Object.entries(inSecret)) {
    const v = fromValues.find((c) => c.name === name);
    const c: ProvisionerClass = {
      name,
      token: s.token,
      idleTimeout: s.idleTimeout ?? v?.idleTimeout,
      minReplicas: s.minReplicas ?? v?.minReplicas ?? PROVISIONER_DEFAULTS.minReplicas,
      maxReplicas: s.maxReplicas ?? v?.maxReplicas ?? PROVISIONER_DEFAULTS.maxReplicas,
      spec: s.spec ?? v?.spec ?? defaultVmSpec(),
    };
    if (c.minReplicas > c.maxReplicas) {
      throw new ConfigError(source, [
        {
          path: `resourceClass[${JSON.stringify(name)}].minReplicas`,
          message: `must not exceed maxReplicas (${c.maxReplicas})`,
        },
      ]);
    }
    out.push(c);
  }
  return out;
}

// `longshore config check [file] [--cluster]`: validates a config file (or $LONGSHORE_CONFIG)
// the way every service does at start, and prints what it would run with, never a token.
// With --cluster it also sends each resource class's task pod to the cluster of KUBECONFIG
// (or kube.kubeconfig) as a server-side dry run, as the scheduler does at start: a class
// whose pod the apiserver refuses would never claim.
import {
  ConfigError,
  configWarnings,
  type LongshoreConfig,
  loadLongshoreConfig,
  provisionerClasses,
} from '@longshore/config';

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

export interface ConfigCheckOptions {
  /** Also dry-run each class's task pod against the cluster. */
  cluster?: boolean;
  /** Read for KUBECONFIG; process.env by default. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** What the cluster said of one class (the scheduler's ClassPodCheck, minus what is not printed). */
export interface PodCheckLine {
  readonly resourceClass: string;
  readonly outcome: 'accepted' | 'refused' | 'unchecked';
  readonly field?: string;
  readonly reason: string;
}

/**
 * Returns the process exit status: 0 valid (and, with --cluster, every class's pod accepted
 * or not checkable), 2 invalid or a pod refused, 1 the cluster could not be asked.
 */
export async function configCheck(
  file: string | undefined,
  io: Io,
  options: ConfigCheckOptions = {},
): Promise<number> {
  let cfg: LongshoreConfig;
  try {
    cfg = await loadLongshoreConfig(file === undefined ? {} : { file });
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(error.message);
      return 2;
    }
    throw error;
  }
  const classes = Object.entries(cfg.agent.resourceClasses);
  io.out(`config ${file ?? process.env.LONGSHORE_CONFIG ?? '(defaults)'}: valid`);
  io.out(
    `  container runner: ${classes.length} resource class(es), at most ${cfg.agent.maxConcurrentTasks} tasks`,
  );
  for (const [name, rc] of classes) {
    io.out(`    ${name}${rc.enableUnsafeRetries ? ' (unsafe retries on)' : ''}`);
  }
  const vmClasses = provisionerClasses(cfg);
  io.out(`  provisioner: ${vmClasses.length} resource class(es)`);
  for (const w of configWarnings(cfg)) io.err(`warning: ${w}`);
  return options.cluster ? checkAgainstCluster(cfg, io, options.env ?? process.env) : 0;
}

async function checkAgainstCluster(
  cfg: LongshoreConfig,
  io: Io,
  env: Readonly<Record<string, string | undefined>>,
): Promise<number> {
  // Loaded only here: the Kubernetes client and the pod builder are not needed otherwise.
  const { KubeConfigError, loadKubeConfig } = await import('@longshore/kube');
  const { taskNamespace } = await import('@longshore/runtime/kube');
  const { checkClassPods, schedulerSettings } = await import('@longshore/scheduler');
  let kc: ReturnType<typeof loadKubeConfig>;
  try {
    kc = loadKubeConfig({ ...(cfg.kube.kubeconfig ? { kubeconfig: cfg.kube.kubeconfig } : {}), env });
  } catch (error) {
    if (!(error instanceof KubeConfigError)) throw error;
    io.err(`cannot check against a cluster: ${error.message}`);
    return 1;
  }
  // Where the scheduler would create the pods: the namespace it works in.
  const namespace = taskNamespace(cfg, kc);
  // The server only: the kubeconfig's user and credentials are not printed.
  const server = kc.getCurrentCluster()?.server ?? '(no server)';
  io.out(`cluster ${server}, namespace ${namespace}: each class's task pod as a server-side dry run`);
  let results: PodCheckLine[];
  try {
    results = await checkClassPods({
      kc,
      settings: schedulerSettings(cfg, 'longshore-config-check', namespace),
    });
  } catch (error) {
    io.err(`cannot check against the cluster: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
  for (const line of formatPodChecks(results)) (line.stream === 'out' ? io.out : io.err)(line.text);
  return results.some((r) => r.outcome === 'refused') ? 2 : 0;
}

/** One line per class: accepted to stdout, refused and unchecked to stderr. */
export function formatPodChecks(results: readonly PodCheckLine[]): { stream: 'out' | 'err'; text: string }[] {
  if (results.length === 0) return [{ stream: 'out', text: '  no resource classes to check' }];
  return results.map((r) => {
    const key = `agent.resourceClasses[${JSON.stringify(r.resourceClass)}]`;
    if (r.outcome === 'accepted') return { stream: 'out', text: `  ${r.resourceClass}: task pod accepted` };
    if (r.outcome === 'unchecked')
      return { stream: 'err', text: `warning: ${key}: the task pod could not be checked: ${r.reason}` };
    return {
      stream: 'err',
      text: `${key}: task pod refused${r.field ? ` at ${r.field}` : ''}: ${r.reason}`,
    };
  });
}

// `longshore config check [file]`: validates a config file (or $LONGSHORE_CONFIG) the way
// every service does at start, and prints what it would run with, never a token.
import { ConfigError, configWarnings, loadLongshoreConfig, provisionerClasses } from '@longshore/config';

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** Returns the process exit status: 0 valid, 2 invalid. */
export async function configCheck(file: string | undefined, io: Io): Promise<number> {
  try {
    const cfg = await loadLongshoreConfig(file === undefined ? {} : { file });
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
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(error.message);
      return 2;
    }
    throw error;
  }
}

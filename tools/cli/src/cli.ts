#!/usr/bin/env node
// The `longshore` command line: the main job (`start`) and tools for operators. What a
// command line asks for is decided in commands.ts (usage, help, version, exit statuses);
// this file only runs it.
import { EXIT, type Invocation, parseCommandLine, type UsageError, usageError } from './commands.ts';
import { configCheck, type Io } from './config-check.ts';
import { isMissingTestbed, START_NEEDS_REPO } from './in-image.ts';

const io: Io = { out: (l) => console.log(l), err: (l) => console.error(l) };

function printUsageError(invocation: UsageError): number {
  io.err(`${invocation.message}\n\n${invocation.usage}`);
  return EXIT.usage;
}

/** An AbortSignal that Ctrl-C and SIGTERM abort, for the commands that run until stopped. */
function untilSignalled(): AbortSignal {
  const stop = new AbortController();
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => stop.abort());
  return stop.signal;
}

async function run(invocation: Invocation): Promise<number> {
  switch (invocation.kind) {
    case 'print':
      io.out(invocation.text);
      return EXIT.ok;
    case 'usage-error':
      return printUsageError(invocation);
    case 'config check':
      return configCheck(invocation.file, io, { cluster: invocation.cluster });
    case 'start': {
      const signal = untilSignalled();
      // Loaded only here: it pulls in the test bed and the simulator. The image holds no
      // test bed (it is not a program of the image): say so rather than print a stack trace.
      let start: typeof import('./start.ts').start;
      try {
        ({ start } = await import('./start.ts'));
      } catch (err) {
        if (!isMissingTestbed(err)) throw err;
        io.err(START_NEEDS_REPO);
        return EXIT.usage;
      }
      return start(invocation.options, io, signal);
    }
    case 'tap': {
      // Loaded only here, like start: it pulls in the NATS client.
      const { parseTapArgs, tap, TapUsageError } = await import('./tap.ts');
      let options: ReturnType<typeof parseTapArgs>;
      try {
        options = parseTapArgs(invocation.args);
      } catch (error) {
        if (!(error instanceof TapUsageError)) throw error;
        return printUsageError(usageError('tap', error.message));
      }
      return tap(options, io, untilSignalled());
    }
    case 'ui': {
      // Loaded only here: it pulls in fastify and the NATS client.
      const { startFleetPage } = await import('./ui/server.ts');
      const signal = untilSignalled();
      let page: Awaited<ReturnType<typeof startFleetPage>>;
      try {
        page = await startFleetPage({ ...invocation.options, warn: io.err });
      } catch (err) {
        if ((err as { code?: string }).code !== 'EADDRINUSE') throw err;
        const { host, port } = invocation.options;
        io.err(`longshore ui: ${host}:${port} is in use; give another --port (0: any free one)`);
        return EXIT.failure;
      }
      io.out(`longshore ui: the fleet page is at ${page.url} (Ctrl-C stops)`);
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
      await page.close();
      return EXIT.ok;
    }
    case 'status': {
      // Loaded only here: it pulls in the NATS and Redis clients.
      const { parseStatusArgs, status, StatusUsageError } = await import('./status.ts');
      let options: ReturnType<typeof parseStatusArgs>;
      try {
        options = parseStatusArgs([...invocation.args]);
      } catch (error) {
        if (!(error instanceof StatusUsageError)) throw error;
        return printUsageError(usageError('status', error.message));
      }
      return status(options, io);
    }
  }
}

try {
  process.exitCode = await run(parseCommandLine(process.argv.slice(2)));
} catch (error) {
  io.err(`longshore: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = EXIT.failure;
}

// Every service's probe and scrape endpoints on one small HTTP server: /livez (the process
// answers), /readyz (its dependencies are usable, per the service's own ready()), and
// /metrics (Prometheus text from the service's registry).
import Fastify from 'fastify';
import type { Registry } from 'prom-client';
import type { KitLogger } from './logger.ts';

export interface HealthServerOptions {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly logger?: KitLogger;
  /** Whether the service can do its work now; a throw counts as not ready. */
  readonly ready: () => boolean | Promise<boolean>;
  readonly registry: Registry;
}

export interface HealthServer {
  /** Base URL, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  readonly port: number;
  /** Stops listening; safe to call more than once. */
  close(): Promise<void>;
}

export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const { logger, ready, registry } = options;
  // Fastify's own request log would record every probe and scrape; failures are logged below.
  const app = Fastify({ logger: false });

  app.get('/livez', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    let ok = false;
    try {
      ok = await ready();
    } catch (err) {
      logger?.warn({ err }, 'readiness check failed');
    }
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready' });
  });

  app.get('/metrics', async (_req, reply) => {
    try {
      const text = await registry.metrics();
      return reply.header('content-type', registry.contentType).send(text);
    } catch (err) {
      logger?.error({ err }, 'collecting metrics failed');
      return reply.code(500).header('content-type', 'text/plain').send('collecting metrics failed\n');
    }
  });

  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${host}:${port}`;
  logger?.info({ url }, 'health server listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    close: () => {
      closing ??= app.close();
      return closing;
    },
  };
}

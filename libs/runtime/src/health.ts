// Every service's probe and scrape endpoints on one small HTTP server: /livez (the process
// answers), /readyz (its dependencies are usable, per the service's own ready()), and
// /metrics (Prometheus text from the service's registry).
//
// Three fixed GET routes on node:http. It was a Fastify app: Fastify's router, schema
// compiler and plugin system did nothing for three routes, and loading them cost every
// service about 7 MB of resident memory (bench/README.md). Fastify stays where it earns its
// place, the Runner API simulator.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
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

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const json = (res: ServerResponse, status: number, body: object): void =>
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));

export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const { logger, ready, registry } = options;

  const routes: Record<string, (res: ServerResponse) => Promise<void> | void> = {
    '/livez': (res) => json(res, 200, { status: 'ok' }),
    '/readyz': async (res) => {
      let ok = false;
      try {
        ok = await ready();
      } catch (err) {
        logger?.warn({ err }, 'readiness check failed');
      }
      json(res, ok ? 200 : 503, { status: ok ? 'ready' : 'not ready' });
    },
    '/metrics': async (res) => {
      let text: string;
      try {
        text = await registry.metrics();
      } catch (err) {
        logger?.error({ err }, 'collecting metrics failed');
        return send(res, 500, 'text/plain; charset=utf-8', 'collecting metrics failed\n');
      }
      send(res, 200, registry.contentType, text);
    },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (!route) return json(res, 404, { status: 'not found' });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return json(res, 405, { status: 'method not allowed' });
    }
    await route(res);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger?.error({ err }, 'health endpoint failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${host}:${port}`;
  logger?.info({ url }, 'health server listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        // Since Node 19 this also drops idle keep-alive connections (a scraper's), so they
        // do not hold the shutdown open; a request in progress is answered first.
        server.close(() => resolve());
      });
      return closing;
    },
  };
}

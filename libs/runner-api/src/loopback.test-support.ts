// Real HTTP servers on loopback for this package's tests: the clients here are tested
// against real sockets, so that what happens to a connection (kept, dropped) is observed
// rather than assumed.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Loopback {
  url: string;
  /** The server's side of every connection, in order of arrival. */
  sockets: Socket[];
  close(): Promise<void>;
}

export async function loopback(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<Loopback> {
  const sockets: Socket[] = [];
  const server = createServer(handler);
  server.on('connection', (s) => {
    sockets.push(s);
    // Clients drop connections on purpose in these tests; the server sees a reset.
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sockets,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Resolves when the server's side of the connection has closed (the client dropped it). */
export async function closed(socket: Socket | undefined): Promise<void> {
  if (!socket) throw new Error('no connection');
  // Not events.once: it rejects on the reset that comes before the close.
  if (!socket.destroyed) await new Promise((r) => socket.once('close', r));
}

/** What a streaming handler got to send before the client stopped it. */
export interface Sent {
  bytes: number;
  finished: boolean;
}

/** Answers `total` bytes of `fill` (chunked encoding) as fast as the client reads them. */
export function streaming(total: number, sent: Sent, fill = 'a') {
  return (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, fill);
    res.on('finish', () => {
      sent.finished = true;
    });
    const pump = () => {
      while (sent.bytes < total && !res.destroyed) {
        sent.bytes += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  };
}

/** Sends headers and then one byte at a time, forever: a body that never ends. */
export function dribbling(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  const timer = setInterval(() => res.write(' '), 20);
  res.on('close', () => clearInterval(timer));
  req.resume();
}

import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ephemeralPorts, freePort } from './processes.ts';

describe('freePort', () => {
  it('hands out distinct ports below the ephemeral range that a server can then bind', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 20; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(20);
    const [low] = ephemeralPorts();
    for (const p of ports) expect(p).toBeGreaterThanOrEqual(10_000);
    for (const p of ports) expect(p).toBeLessThan(low);
    const srv = createServer();
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(ports[0], '127.0.0.1', resolve);
    });
    await new Promise((resolve) => srv.close(resolve));
  });
});

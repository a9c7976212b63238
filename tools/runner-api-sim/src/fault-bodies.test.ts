import { describe, expect, it } from 'vitest';
import { DribbleAbortedError, dribbled, GENERATED_CHUNK_BYTES, generatedBody } from './fault-bodies.ts';

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of source) out.push(Buffer.from(chunk));
  return out;
}

describe('generatedBody', () => {
  it('is exactly the size asked for, in bounded pieces', async () => {
    const bytes = 3 * GENERATED_CHUNK_BYTES + 17;
    const chunks = await collect(generatedBody(bytes, 'text/plain'));
    expect(Buffer.concat(chunks).length).toBe(bytes);
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(GENERATED_CHUNK_BYTES);
    expect(Buffer.concat(chunks).toString()).toBe('x'.repeat(bytes));
  });

  it('is a JSON document of the wrong shape for a JSON content type', async () => {
    const body = Buffer.concat(await collect(generatedBody(200_000, 'application/json; charset=utf-8')));
    expect(body.length).toBe(200_000);
    expect(Object.keys(JSON.parse(body.toString()))).toEqual(['padding']);
  });

  it('is plain filler when a JSON document does not fit, and nothing for 0 bytes', async () => {
    expect(Buffer.concat(await collect(generatedBody(5, 'application/json'))).toString()).toBe('xxxxx');
    expect(await collect(generatedBody(0, 'application/json'))).toEqual([]);
  });
});

describe('dribbled', () => {
  it('re-cuts the body into pieces of the asked size, bytes unchanged', async () => {
    const pieces = await collect(
      dribbled(
        ['{"a":', Buffer.from('"bc"}')],
        { chunkBytes: 3, intervalMs: 1 },
        new AbortController().signal,
      ),
    );
    expect(pieces.map((p) => p.toString())).toEqual(['{"a', '":', '"bc', '"}']);
  });

  it('fails, so that the connection drops, when the simulator closes', async () => {
    const closing = new AbortController();
    const source = dribbled(['abcdef'], { chunkBytes: 1, intervalMs: 600_000 }, closing.signal);
    expect((await source.next()).value?.toString()).toBe('a');
    const next = source.next();
    closing.abort();
    await expect(next).rejects.toBeInstanceOf(DribbleAbortedError);
  });
});

// Bodies of the `respond` and `dribble` faults, as async byte sources that a response
// streams: a generated body of any size is never held in memory, and a dribbled one
// trickles out at the pace the fault asks for.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dribble } from './faults.ts';

/** Size of each piece of a generated body. */
export const GENERATED_CHUNK_BYTES = 64 * 1024;

const JSON_HEAD = '{"padding":"';
const JSON_TAIL = '"}';

/**
 * `bytes` bytes of body. For a JSON content type, when there is room, a valid JSON
 * document of the wrong shape (`{"padding":"xxx…"}`), so a client without a size limit
 * would read and parse all of it; otherwise `x` repeated.
 */
export async function* generatedBody(bytes: number, contentType: string): AsyncGenerator<Buffer> {
  const json = /\bjson\b/i.test(contentType) && bytes >= JSON_HEAD.length + JSON_TAIL.length;
  // One chunk reused for every write: nothing changes it, so a write still queued is safe.
  const fill = Buffer.alloc(Math.min(GENERATED_CHUNK_BYTES, bytes), 'x');
  let left = bytes;
  if (json) {
    yield Buffer.from(JSON_HEAD);
    left -= JSON_HEAD.length + JSON_TAIL.length;
  }
  while (left > 0) {
    const n = Math.min(left, fill.length);
    yield n === fill.length ? fill : fill.subarray(0, n);
    left -= n;
  }
  if (json) yield Buffer.from(JSON_TAIL);
}

/** A dribbled body cut short because the simulator is closing. */
export class DribbleAbortedError extends Error {
  override name = 'DribbleAbortedError';
}

/**
 * `source` re-cut into pieces of `chunkBytes`, with `intervalMs` between pieces (none
 * before the first, so the headers and the first byte go out at once). Throws
 * DribbleAbortedError when `signal` aborts (the simulator is closing): a stream that
 * fails after its headers makes the server drop the connection, where ending it short
 * would leave a keep-alive connection holding the close up.
 */
export async function* dribbled(
  source: Iterable<Buffer | string> | AsyncIterable<Buffer | string>,
  { chunkBytes, intervalMs }: Dribble,
  signal: AbortSignal,
): AsyncGenerator<Buffer> {
  let first = true;
  for await (const piece of source) {
    const buf = typeof piece === 'string' ? Buffer.from(piece) : piece;
    for (let at = 0; at < buf.length; at += chunkBytes) {
      if (!first) {
        try {
          await sleep(intervalMs, undefined, { signal });
        } catch (cause) {
          throw new DribbleAbortedError('the simulator is closing', { cause });
        }
      }
      first = false;
      yield buf.subarray(at, at + chunkBytes);
    }
  }
}

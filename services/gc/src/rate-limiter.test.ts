// The limiter spaces requests evenly, however many callers wait at once.
import { describe, expect, it } from 'vitest';
import { RateLimiter } from './rate-limiter.ts';

describe('RateLimiter', () => {
  it('lets no more than perSecond requests through, even when all ask at once', async () => {
    const limiter = new RateLimiter(200);
    const start = performance.now();
    await Promise.all(Array.from({ length: 41 }, () => limiter.take()));
    // 41 takes at 5 ms spacing: the last one waits 200 ms.
    expect(performance.now() - start).toBeGreaterThanOrEqual(195);
  });

  it('refuses a rate that is not positive', () => {
    expect(() => new RateLimiter(0)).toThrow(RangeError);
  });
});

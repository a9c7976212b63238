import { describe, expect, it } from 'vitest';
import { isMissingTestbed, START_NEEDS_REPO } from './in-image.ts';

const notFound = (message: string, code = 'ERR_MODULE_NOT_FOUND') =>
  Object.assign(new Error(message), { code });

describe('isMissingTestbed', () => {
  it("recognises Node's error for the absent test bed package", () => {
    expect(
      isMissingTestbed(
        notFound("Cannot find package '@longshore/testbed' imported from /app/dist/chunk-1.mjs"),
      ),
    ).toBe(true);
  });

  it('leaves every other failure to surface as it is', () => {
    expect(isMissingTestbed(notFound("Cannot find package 'nats' imported from /app/dist/x.mjs"))).toBe(
      false,
    );
    expect(isMissingTestbed(new Error("Cannot find package '@longshore/testbed'"))).toBe(false);
    expect(isMissingTestbed('@longshore/testbed')).toBe(false);
  });

  it('tells the user what to run instead', () => {
    expect(START_NEEDS_REPO).toMatch(/npm start/);
    expect(START_NEEDS_REPO).toMatch(/dist\/<service>\.mjs/);
  });
});

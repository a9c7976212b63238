// What `longshore status --json` says of a fleet. Kept beside the end-to-end tests rather
// than in the Fleet harness: the CLI depends on the test bed, so the test bed cannot call it.
import { type ClassStatus, status } from '@longshore/cli';
import type { Fleet } from '@longshore/testbed/testing';
import { expect } from 'vitest';

/** The fleet's classes as `longshore status --json` shows them, and its whole output (to look for tokens in). */
export async function fleetStatus(f: Fleet): Promise<{ classes: ClassStatus[]; printed: string }> {
  const out: string[] = [];
  const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l) };
  const code = await status(f.statusArgs(), io);
  expect(code, out.join('\n')).toBe(0);
  const printed = out.join('\n');
  return { classes: (JSON.parse(out[0]!) as { classes: ClassStatus[] }).classes, printed };
}

import type { V1Pod } from '@kubernetes/client-node';
import { WARNINGS_ANNOTATION } from '@longshore/contracts';
import { describe, expect, it } from 'vitest';
import { warningsOf } from './pod-tracker.ts';

const pod = (annotation?: string): V1Pod => ({
  metadata: { annotations: annotation === undefined ? {} : { [WARNINGS_ANNOTATION]: annotation } },
});

describe('warningsOf', () => {
  it("reads the builder's warnings back from the pod, for whichever announcement comes first", () => {
    expect(warningsOf(pod(JSON.stringify(['a', 'b'])))).toEqual(['a', 'b']);
    expect(warningsOf(pod('[]'))).toBeUndefined();
    expect(warningsOf(pod())).toBeUndefined();
  });

  it('says so when the annotation is not ours to read, without repeating it', () => {
    for (const bad of ['not json', '{"a":1}', '[1,2]'])
      expect(warningsOf(pod(bad))).toEqual([
        `the pod's ${WARNINGS_ANNOTATION} annotation is not a list of strings`,
      ]);
  });
});

// An operator's view of a bad config: the process stops, naming the file, the key and why.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', 'src', 'cli.ts');

async function check(yaml: string) {
  const dir = mkdtempSync(join(tmpdir(), 'longshore-cfg-'));
  const file = join(dir, 'values.yaml');
  writeFileSync(file, yaml);
  try {
    const r = await run(process.execPath, [CLI, 'config', 'check', file], {
      env: { PATH: process.env.PATH },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr, file };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr, file };
  }
}

describe('longshore config check', () => {
  it('stops on an invalid file with its path, the key and the reason, and no token', async () => {
    const r = await check(
      'agent:\n  maxRunTime: 5x\n  resourceClasses:\n    acme/small:\n      token: secret-token-value-1234\n',
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(r.file);
    expect(r.stderr).toContain('agent.maxRunTime');
    expect(r.stderr).toMatch(/invalid duration/);
    expect(r.stderr + r.stdout).not.toContain('secret-token-value-1234');
  });

  it('names a YAML syntax error by line', async () => {
    const r = await check('agent:\n  resourceClasses: [\n');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(r.file);
    expect(r.stderr).toMatch(/line \d+/);
  });

  it('accepts the seeds’ container runner values unchanged, and warns about a risky GC threshold', async () => {
    const r = await check(`agent:
  maxRunTime: 6h
  resourceClasses:
    circleci-runner/resourceClass:
      token: TOKEN1-abcdef
      metadata:
        annotations:
          custom.io: my-annotation
      spec:
        containers:
          - resources:
              limits:
                cpu: 500m
            volumeMounts:
              - name: xyz
                mountPath: /path/to/mount
        securityContext:
          runAsNonRoot: true
        imagePullSecrets:
          - name: my_cred
        volumes:
          - name: xyz
            emptyDir: {}
    circleci-runner/resourceClass2:
      token: TOKEN2-abcdef
      spec:
        imagePullSecrets:
          - name: "other"
`);
    expect(r.stderr).not.toContain('TOKEN1');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('circleci-runner/resourceClass2');
    expect(r.stderr).toContain('warning: agent.gc.threshold is not longer than agent.maxRunTime');
  });
});

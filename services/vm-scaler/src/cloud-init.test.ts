// The bootstrap script for real: rendered, checked by shellcheck, and run under bash in a
// temporary root with stub package managers and systemctl for both OS families.
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { CloudInitTemplateError, renderRunnerInit, shellQuote } from './cloud-init.ts';

const run = promisify(execFile);
const TOKEN = 'rc-token-0123456789abcdef';

const OS_RELEASES = {
  ubuntu: 'NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nID_LIKE=debian\n',
  debian: 'NAME="Debian GNU/Linux"\nID=debian\n',
  rocky: 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\n',
  centos7: 'NAME="CentOS Linux"\nID="centos"\nID_LIKE="rhel fedora"\n',
  alpine: 'NAME="Alpine Linux"\nID=alpine\n',
} as const;

/** Stubs that record their arguments; curl serves a repo-setup script that records itself. */
const STUBS: Record<string, string> = {
  curl: 'echo "curl $*" >>"$STUB_LOG"\necho \'echo "repo-setup" >>"$STUB_LOG"\'\n',
  'apt-get': 'echo "apt-get $* (DEBIAN_FRONTEND=$DEBIAN_FRONTEND)" >>"$STUB_LOG"\n',
  yum: 'echo "yum $*" >>"$STUB_LOG"\n',
  dnf: 'echo "dnf $*" >>"$STUB_LOG"\n',
  systemctl: 'echo "systemctl $*" >>"$STUB_LOG"\n',
};

const roots: string[] = [];
afterEach(async () => {
  await Promise.all(roots.splice(0).map((r) => rm(r, { recursive: true, force: true })));
});

async function runScript(os: keyof typeof OS_RELEASES, script: string, stubs = Object.keys(STUBS)) {
  const root = await mkdtemp(join(tmpdir(), 'runner-init-'));
  roots.push(root);
  const bin = join(root, 'bin');
  await mkdir(bin);
  await mkdir(join(root, 'etc'));
  for (const name of stubs) {
    await writeFile(join(bin, name), `#!/bin/bash\n${STUBS[name]}`);
    await chmod(join(bin, name), 0o755);
  }
  await writeFile(join(root, 'etc/os-release'), OS_RELEASES[os]);
  await writeFile(join(root, 'user-data.sh'), script);
  const env = {
    // Only the stubs and the base system: no real package manager can be reached.
    PATH: `${bin}:/usr/bin:/bin`,
    STUB_LOG: join(root, 'calls.log'),
    OS_RELEASE_FILE: join(root, 'etc/os-release'),
    RUNNER_CONFIG_DIR: join(root, 'etc/circleci-runner'),
    SYSTEMD_UNIT_DIR: join(root, 'etc/systemd/system'),
  };
  const result = await run('bash', [join(root, 'user-data.sh')], { env }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );
  const calls = await readFile(env.STUB_LOG, 'utf8').then(
    (t) => t.trim().split('\n'),
    () => [] as string[],
  );
  const configPath = join(env.RUNNER_CONFIG_DIR, 'circleci-runner-config.yaml');
  return { root, env, result, calls, configPath };
}

const settings = { token: TOKEN, apiUrl: 'https://runner.circleci.com', idleTimeoutMs: 600_000 };

describe('renderRunnerInit', () => {
  it('fills every placeholder with a shell-quoted YAML scalar', () => {
    const script = renderRunnerInit(settings);
    expect(script).not.toMatch(/@@[A-Z_]+@@/);
    expect(script).toContain(`readonly RUNNER_AUTH_TOKEN_YAML='"${TOKEN}"'`);
    expect(script).toContain(`RUNNER_API_URL_YAML='"https://runner.circleci.com"'`);
    expect(script).toContain(`RUNNER_IDLE_TIMEOUT_YAML='"10m"'`);
    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
  });

  it('leaves idle_timeout empty when unset or zero', () => {
    expect(renderRunnerInit({ ...settings, idleTimeoutMs: undefined })).toContain(
      "RUNNER_IDLE_TIMEOUT_YAML=''\n",
    );
    expect(renderRunnerInit({ ...settings, idleTimeoutMs: 0 })).toContain("RUNNER_IDLE_TIMEOUT_YAML=''\n");
  });

  it('refuses templates that do not match its settings', () => {
    expect(() => renderRunnerInit(settings, 'X=@@RUNNER_AUTH_TOKEN_YAML@@ @@OTHER@@')).toThrow(
      new CloudInitTemplateError('unknown placeholder @@OTHER@@ in the template'),
    );
    expect(() => renderRunnerInit(settings, 'X=@@RUNNER_AUTH_TOKEN_YAML@@')).toThrow(
      'the template lacks placeholders @@RUNNER_API_URL_YAML@@, @@RUNNER_IDLE_TIMEOUT_YAML@@',
    );
    expect(() => renderRunnerInit({ ...settings, token: '' })).toThrow(RangeError);
  });

  it('quotes anything for the shell', () => {
    expect(shellQuote(`it's "$HOME" \`x\``)).toBe(`'it'\\''s "$HOME" \`x\`'`);
  });

  it('passes shellcheck', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'runner-init-sc-'));
    roots.push(dir);
    const file = join(dir, 'user-data.sh');
    await writeFile(file, renderRunnerInit({ ...settings, token: `we'ird $(token) "x"` }));
    // shellcheck exits non-zero on any finding; its report is the useful failure message.
    const report = await run('shellcheck', ['--shell=bash', '--severity=style', file]).then(
      (r) => r.stdout,
      (e: { stdout: string }) => e.stdout,
    );
    expect(report).toBe('');
  });
});

describe('the rendered script under bash', () => {
  it.each(['ubuntu', 'debian'] as const)(
    'on %s: installs with apt-get from packagecloud, writes the config, starts the runner',
    async (os) => {
      const { result, calls, configPath, env } = await runScript(os, renderRunnerInit(settings));
      expect(result.code, result.stderr).toBe(0);
      expect(calls).toEqual([
        'curl -fsSL https://packagecloud.io/install/repositories/circleci/runner/script.deb.sh?any=true',
        'repo-setup',
        'apt-get install -y circleci-runner (DEBIAN_FRONTEND=noninteractive)',
        'systemctl stop circleci-runner.service',
        'systemctl daemon-reload',
        'systemctl enable circleci-runner.service',
        'systemctl start --no-block circleci-runner.service',
      ]);
      const config = await readFile(configPath, 'utf8');
      expect(config).toMatch(
        new RegExp(
          [
            'api:',
            `  auth_token: "${TOKEN}"`,
            '  url: "https://runner.circleci.com"',
            'runner:',
            '  name: "[A-Za-z0-9._-]+-[0-9a-f]{8}"',
            '  mode: single-task',
            '  working_directory: /var/lib/circleci-runner/workdir',
            '  cleanup_working_directory: true',
            '  idle_timeout: "10m"',
            '',
          ].join('\n'),
        ),
      );
      expect((await stat(configPath)).mode & 0o777).toBe(0o600);
      const dropIn = await readFile(
        join(env.SYSTEMD_UNIT_DIR, 'circleci-runner.service.d/10-longshore-poweroff.conf'),
        'utf8',
      );
      expect(dropIn).toContain('[Unit]\nSuccessAction=poweroff\nFailureAction=poweroff\n');
      expect(dropIn).toContain('[Service]\nRestart=no\n');
      // The token reached no command line.
      expect(calls.join('\n')).not.toContain(TOKEN);
    },
  );

  it('on Rocky Linux (RHEL family): installs with dnf from the rpm repository', async () => {
    const { result, calls, configPath } = await runScript('rocky', renderRunnerInit(settings));
    expect(result.code, result.stderr).toBe(0);
    expect(calls.slice(0, 3)).toEqual([
      'curl -fsSL https://packagecloud.io/install/repositories/circleci/runner/script.rpm.sh?any=true',
      'repo-setup',
      'dnf install -y circleci-runner',
    ]);
    expect(calls.at(-1)).toBe('systemctl start --no-block circleci-runner.service');
    expect(await readFile(configPath, 'utf8')).toContain(`  auth_token: "${TOKEN}"\n`);
    expect((await stat(configPath)).mode & 0o777).toBe(0o600);
  });

  it('on CentOS 7 without dnf: installs with yum; without idleTimeout: no idle_timeout', async () => {
    const script = renderRunnerInit({
      ...settings,
      idleTimeoutMs: undefined,
      apiUrl: 'https://ci.example.com',
    });
    const { result, calls, configPath } = await runScript(
      'centos7',
      script,
      Object.keys(STUBS).filter((s) => s !== 'dnf'),
    );
    expect(result.code, result.stderr).toBe(0);
    expect(calls[2]).toBe('yum install -y circleci-runner');
    const config = await readFile(configPath, 'utf8');
    expect(config).toContain('  url: "https://ci.example.com"\n');
    expect(config).not.toContain('idle_timeout');
  });

  it('writes a token with YAML and shell metacharacters as one exact value', async () => {
    const token = `a"b\\c'd $(e) \`f\``;
    const { result, configPath } = await runScript('ubuntu', renderRunnerInit({ ...settings, token }));
    expect(result.code, result.stderr).toBe(0);
    const line = (await readFile(configPath, 'utf8')).split('\n').find((l) => l.includes('auth_token'));
    expect(JSON.parse(line?.replace('  auth_token: ', '') ?? '')).toBe(token);
  });

  it('stops on an unsupported OS, before installing anything', async () => {
    const { result, calls, configPath } = await runScript('alpine', renderRunnerInit(settings));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('unsupported OS');
    expect(calls).toEqual([]);
    await expect(stat(configPath)).rejects.toThrow();
  });
});

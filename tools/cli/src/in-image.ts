// `longshore start` runs the demo on the repository's test bed: real nats-server,
// redis-server, kube-apiserver and kwok, started from the clone. The image ships the CLI
// for `tap`, `status` and `config check` but no test bed (nor the servers it starts), so
// there `start` cannot work; it says so and what to run instead.

export const START_NEEDS_REPO = [
  'longshore start: this command runs the local demo on the test bed of a clone of the repository',
  '(it starts nats-server, redis-server, a kube-apiserver and kwok), and this installation has no',
  'test bed: the container image ships the services and the CLI tools only. Run `npm start` in a',
  'clone of the repository, or run the image as docker-compose.yml and the Helm chart do: one',
  'container per program (dist/<service>.mjs), against your own NATS, Redis and Kubernetes.',
].join('\n');

/** Whether loading a module failed because the test bed package is not installed. */
export function isMissingTestbed(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  return (
    (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
    err.message.includes("'@longshore/testbed'")
  );
}

// A loopback fake of the two AWS calls the scheduler makes for `aws_auth`: ECR's
// GetAuthorizationToken (JSON 1.1 protocol) and STS's AssumeRole (query protocol, XML). We
// do not own AWS; the AWS SDK is pointed here by its own standard endpoint settings
// (AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL_STS), so the code under test is the code that
// runs against AWS. Signatures are not checked; the access key id and region each request
// was signed with are recorded, which is what the tests need to see.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeAwsCall {
  service: 'ecr' | 'sts';
  /** From the request's SigV4 credential scope. */
  accessKeyId: string;
  region: string;
  roleArn?: string;
  sessionName?: string;
}

/** What the fake answers: a login, a refusal (4xx, as for bad keys), or a 500. */
export type FakeAwsMode = 'ok' | 'refuse' | 'fail';

export interface FakeAws {
  url: string;
  calls: FakeAwsCall[];
  /** Every ECR password and STS secret handed out, to look for in logs and on the bus. */
  issued: string[];
  mode: { ecr: FakeAwsMode; sts: FakeAwsMode };
  /** The ECR password issued last for an access key id. */
  passwordFor(accessKeyId: string): string | undefined;
  close(): Promise<void>;
}

export async function startFakeAws(): Promise<FakeAws> {
  const calls: FakeAwsCall[] = [];
  const issued: string[] = [];
  const passwords = new Map<string, string>();
  const mode: FakeAws['mode'] = { ecr: 'ok', sts: 'ok' };

  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const scope = /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\//.exec(req.headers.authorization ?? '');
      const accessKeyId = scope?.[1] ?? '';
      const region = scope?.[2] ?? '';
      if (String(req.headers['x-amz-target'] ?? '').endsWith('.GetAuthorizationToken')) {
        calls.push({ service: 'ecr', accessKeyId, region });
        return ecr(res, mode.ecr, accessKeyId);
      }
      const form = new URLSearchParams(body);
      if (form.get('Action') === 'AssumeRole') {
        calls.push({
          service: 'sts',
          accessKeyId,
          region,
          roleArn: form.get('RoleArn') ?? '',
          sessionName: form.get('RoleSessionName') ?? '',
        });
        return sts(res, mode.sts);
      }
      res.writeHead(404).end();
    });
  });

  function ecr(res: ServerResponse, m: FakeAwsMode, accessKeyId: string): void {
    if (m !== 'ok') {
      const type = m === 'refuse' ? 'UnrecognizedClientException' : 'ServerException';
      res.writeHead(m === 'refuse' ? 400 : 500, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-errortype': type,
      });
      res.end(
        JSON.stringify({ __type: type, message: 'The security token included in the request is invalid.' }),
      );
      return;
    }
    const password = `ecr-${randomBytes(12).toString('hex')}`;
    passwords.set(accessKeyId, password);
    issued.push(password);
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(
      JSON.stringify({
        authorizationData: [
          {
            authorizationToken: Buffer.from(`AWS:${password}`).toString('base64'),
            expiresAt: Math.floor(Date.now() / 1000) + 43_200,
            proxyEndpoint: 'https://123456789012.dkr.ecr.eu-west-1.amazonaws.com',
          },
        ],
      }),
    );
  }

  function sts(res: ServerResponse, m: FakeAwsMode): void {
    const ns = 'https://sts.amazonaws.com/doc/2011-06-15/';
    if (m !== 'ok') {
      res.writeHead(m === 'refuse' ? 403 : 500, { 'content-type': 'text/xml' });
      res.end(
        `<ErrorResponse xmlns="${ns}"><Error><Type>${m === 'refuse' ? 'Sender' : 'Receiver'}</Type>` +
          `<Code>${m === 'refuse' ? 'AccessDenied' : 'InternalFailure'}</Code>` +
          '<Message>User: arn:aws:iam::123456789012:user/runner is not authorized to perform: sts:AssumeRole</Message>' +
          '</Error><RequestId>fake</RequestId></ErrorResponse>',
      );
      return;
    }
    const key = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
    const secret = `sts-secret-${randomBytes(12).toString('hex')}`;
    const session = `sts-session-${randomBytes(12).toString('hex')}`;
    issued.push(secret, session);
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end(
      `<AssumeRoleResponse xmlns="${ns}"><AssumeRoleResult><Credentials>` +
        `<AccessKeyId>${key}</AccessKeyId><SecretAccessKey>${secret}</SecretAccessKey>` +
        `<SessionToken>${session}</SessionToken><Expiration>${new Date(Date.now() + 900_000).toISOString()}</Expiration>` +
        '</Credentials><AssumedRoleUser><AssumedRoleId>AROAFAKE:s</AssumedRoleId>' +
        '<Arn>arn:aws:sts::123456789012:assumed-role/ecr-pull/s</Arn></AssumedRoleUser>' +
        '</AssumeRoleResult><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></AssumeRoleResponse>',
    );
  }

  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    issued,
    mode,
    passwordFor: (id) => passwords.get(id),
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

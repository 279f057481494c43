/**
 * The memory floor of the AWS SDK for Step Functions, for bench/bench.ts: a program that does nothing but send five
 * heartbeats with `@aws-sdk/client-sfn` to a local endpoint, bundled the way the runtime is, then prints its peak RSS
 * (VmHWM, kB). Whatever the runtime does on top, it cannot use less than this while it uses the SDK.
 */
import * as fs from 'fs';
import * as http from 'http';
// eslint-disable-next-line import/no-extraneous-dependencies
import { SendTaskHeartbeatCommand, SFNClient } from '@aws-sdk/client-sfn';

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.setHeader('content-type', 'application/x-amz-json-1.0');
    res.end('{}');
  });
});
server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address() as { port: number };
  const client = new SFNClient({
    region: 'eu-west-1',
    endpoint: `http://127.0.0.1:${port}`,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example' },
    maxAttempts: 1,
  });
  for (let i = 0; i < 5; i++) await client.send(new SendTaskHeartbeatCommand({ taskToken: 'floor' }));
  process.stdout.write(`${/^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]}\n`);
  server.close();
});

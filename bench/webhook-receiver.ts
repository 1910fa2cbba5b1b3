// A webhook receiver for bench:webhooks and bench:day, run as a child process so it shares the
// event loop of neither the producers nor the worker. `answer` reads each body and answers 204,
// like a well-behaved endpoint; `hang` reads each body and never answers (a dead endpoint that
// still accepts connections) until SIGUSR1 brings it back: then it answers 204, the held requests
// included. `verify` (WEBHOOK_SECRET in its environment) checks each signature with the client
// library's verifyWebhook and answers 204 when it holds, 400 when not; on SIGUSR2 it writes what
// it received to the file named by its second argument (every delivery's webhook-id and job id,
// verified or not, and ms from the event's timestamp — the job's end — to the answer) and prints
// `written`. It prints its port, then, in `hang` mode, every second, the requests it holds open.

import { writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook } from '../api/client/verify-webhook.ts';

let mode = process.argv[2] === 'hang' ? 'hang' : process.argv[2] === 'verify' ? 'verify' : 'answer';
let open = 0;
const held = new Set<ServerResponse>();
/** [webhook-id, job id, verified, ms from the event's timestamp to the answer] per delivery. */
const received: [string, string, boolean, number][] = [];

async function verify(body: string, headers: Record<string, string | string[] | undefined>) {
  const id = String(headers['webhook-id'] ?? '');
  try {
    const event = await verifyWebhook<{ timestamp: string; data: { jobId: string } }>(
      body,
      headers,
      process.env.WEBHOOK_SECRET ?? '',
    );
    received.push([id, event.data.jobId, true, Date.now() - Date.parse(event.timestamp)]);
    return true;
  } catch {
    const jobId = /"jobId":"([^"]+)"/.exec(body)?.[1] ?? '';
    received.push([id, jobId, false, 0]);
    return false;
  }
}

const server = createServer((req, res) => {
  if (mode === 'verify') {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      verify(Buffer.concat(chunks).toString('utf8'), req.headers).then((ok) =>
        res.writeHead(ok ? 204 : 400).end(),
      );
    });
    return;
  }
  req.resume();
  if (mode === 'answer') {
    req.on('end', () => res.writeHead(204).end());
    return;
  }
  open++;
  held.add(res);
  req.socket.once('close', () => {
    open--;
    held.delete(res);
  });
});
process.on('SIGUSR1', () => {
  mode = 'answer';
  for (const res of held) res.writeHead(204).end();
  held.clear();
});
process.on('SIGUSR2', () => {
  writeFileSync(process.argv[3] ?? '/dev/null', JSON.stringify(received));
  process.stdout.write('written\n');
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
  if (mode === 'hang') setInterval(() => process.stdout.write(`open ${open}\n`), 1_000).unref();
});

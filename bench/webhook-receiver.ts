// A webhook receiver for bench:webhooks, run as a child process so it shares the event loop of
// neither the producers nor the worker. `answer` reads each body and answers 204, like a
// well-behaved endpoint; `hang` reads each body and never answers (a dead endpoint that still
// accepts connections). It prints its port, then, every second, the requests it holds open.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const mode = process.argv[2] === 'hang' ? 'hang' : 'answer';
let open = 0;
const server = createServer((req, res) => {
  req.resume();
  if (mode === 'answer') {
    req.on('end', () => res.writeHead(204).end());
    return;
  }
  open++;
  req.socket.once('close', () => open--);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
  if (mode === 'hang') setInterval(() => process.stdout.write(`open ${open}\n`), 1_000).unref();
});

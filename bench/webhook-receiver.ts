// A webhook receiver for bench:webhooks, run as a child process so it shares the event loop of
// neither the producers nor the worker. `answer` reads each body and answers 204, like a
// well-behaved endpoint; `hang` reads each body and never answers (a dead endpoint that still
// accepts connections) until SIGUSR1 brings it back: then it answers 204, the held requests
// included. It prints its port, then, every second, the requests it holds open.

import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

let mode = process.argv[2] === 'hang' ? 'hang' : 'answer';
let open = 0;
const held = new Set<ServerResponse>();
const server = createServer((req, res) => {
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
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
  if (mode === 'hang') setInterval(() => process.stdout.write(`open ${open}\n`), 1_000).unref();
});

// An open-loop HTTP/1.1 load generator for the "p99 at half rate" figures: requests are due at
// evenly spaced times and each is timed from when it was due (so a slow answer that delays later
// sends counts against them too, as wrk2 does). It writes prebuilt requests on raw keep-alive
// sockets and reads answers with a minimal parser: node:http's client cost ~40 % of a core at
// 1,400 req/s on this 2-core box and its own scheduling put a 40–60 ms shoulder on the p99 that
// the API did not have (wrk against the same API: p99 11 ms).

import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PacedOptions {
  host: string;
  port: number;
  /** Requests per second. */
  rate: number;
  seconds: number;
  /** Keep-alive connections; a request due while all are busy waits for one (and is late). */
  connections: number;
  /** The raw request `i` (request line, headers with Content-Length, body). */
  request: (i: number) => Buffer;
}

export interface PacedResult {
  /** Milliseconds from due to answered, ascending. */
  latencies: number[];
  non2xx: number;
  errors: number;
  duration: number;
}

interface Connection {
  socket: Socket;
  chunks: Buffer[];
  /** Set while a request is in flight. */
  done?: ((status: number) => void) | undefined;
  dead?: boolean;
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** The status and total length of the answer in `data`, once its head is complete. */
function parseHead(data: Buffer): { status: number; length: number } | undefined {
  const end = data.indexOf(HEADER_END);
  if (end === -1) return undefined;
  const head = data.toString('latin1', 0, end);
  const status = Number(head.slice(9, 12));
  const match = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (!match) throw new Error(`answer without Content-Length: ${head.split('\r\n')[0]}`);
  return { status, length: end + 4 + Number(match[1]) };
}

export async function pacedLoad(options: PacedOptions): Promise<PacedResult> {
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  let dead = 0;
  // First in, first out: every connection is used every few milliseconds, so none sits idle long
  // enough for the server's keep-alive timeout to close it under a request.
  const idle: Connection[] = [];
  const waiting: { due: number; i: number }[] = [];

  const send = (connection: Connection, due: number, i: number) => {
    connection.done = (status) => {
      connection.done = undefined;
      latencies.push(performance.now() - due);
      if (status < 200 || status > 299) non2xx++;
      const next = waiting.shift();
      if (next) send(connection, next.due, next.i);
      else idle.push(connection);
    };
    connection.socket.write(options.request(i));
  };
  const lose = (connection: Connection) => {
    if (connection.dead) return;
    connection.dead = true;
    dead++;
    if (connection.done) errors++;
    const at = idle.indexOf(connection);
    if (at !== -1) idle.splice(at, 1);
    connection.socket.destroy();
  };

  const open = () =>
    new Promise<Connection>((resolve, reject) => {
      const socket = connect({ host: options.host, port: options.port, noDelay: true });
      const connection: Connection = { socket, chunks: [] };
      socket.once('connect', () => {
        socket.on('error', () => lose(connection));
        socket.on('close', () => lose(connection));
        resolve(connection);
      });
      socket.once('error', reject);
      socket.on('data', (chunk: Buffer) => {
        connection.chunks.push(chunk);
        const data =
          connection.chunks.length === 1
            ? (connection.chunks[0] as Buffer)
            : Buffer.concat(connection.chunks);
        connection.chunks = [data];
        let head: ReturnType<typeof parseHead>;
        try {
          head = parseHead(data);
        } catch {
          lose(connection);
          return;
        }
        if (!head || data.length < head.length) return;
        connection.chunks = [];
        connection.done?.(head.status);
      });
    });

  const connections = await Promise.all(Array.from({ length: options.connections }, open));
  idle.push(...connections);
  const started = performance.now();
  const total = Math.floor(options.seconds * options.rate);
  for (let i = 0; i < total; ) {
    // Timers fire about once a millisecond: send everything that is due by now.
    for (; i < total && started + (i * 1000) / options.rate <= performance.now(); i++) {
      const due = started + (i * 1000) / options.rate;
      const connection = idle.shift();
      if (connection) send(connection, due, i);
      else waiting.push({ due, i });
    }
    await sleep(1);
  }
  while (
    idle.length + dead < connections.length ||
    (waiting.length > 0 && dead < connections.length)
  ) {
    await sleep(5);
  }
  errors += waiting.length;
  const duration = (performance.now() - started) / 1000;
  for (const connection of connections) {
    connection.dead = true;
    connection.socket.destroy();
  }
  latencies.sort((a, b) => a - b);
  return { latencies, non2xx, errors, duration };
}

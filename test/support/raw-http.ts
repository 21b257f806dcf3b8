// HTTP/1.1 over a plain socket, with the request target sent byte for byte as given and the body
// sent when the test says. fetch and `new URL` resolve dot segments (`/a/../b` becomes `/b`,
// `%2E%2E` too), so tests of how a server judges the raw target need this; tests of idle
// timeouts need a body that trickles or stalls.
import { connect } from 'node:net';
import type { Socket } from 'node:net';

export interface RawAnswer {
  /** 0 when the server closed the connection without answering. */
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** The bytes of the body (after de-chunking). */
  readonly bytes: number;
}

export interface RawExchange {
  readonly socket: Socket;
  /** Sends part of the body. */
  write(data: string | Buffer): void;
  /** Everything the server sent, parsed, once it closed the connection. */
  readonly answer: Promise<RawAnswer>;
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) break;
    const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

function parse(data: Buffer): RawAnswer {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd < 0) return { status: 0, headers: {}, body: data.toString('latin1'), bytes: 0 };
  const [statusLine, ...lines] = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = data.subarray(headEnd + 4);
  const content = headers['transfer-encoding']?.toLowerCase() === 'chunked' ? dechunk(rest) : rest;
  return { status: Number(statusLine.split(' ')[1]), headers, body: content.toString('utf8'), bytes: content.length };
}

/** Opens a connection and sends the request head; the body follows through write(). */
export function openRaw(origin: string, method: string, target: string, contentLength: number, headers: Record<string, string> = {}, timeoutMs = 60_000): RawExchange {
  const { hostname, port } = new URL(origin);
  const socket = connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  const answer = new Promise<RawAnswer>((resolve, reject) => {
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no complete answer to ${method} ${target} within ${timeoutMs} ms`)));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset after the server closed is its way of closing too.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return;
      reject(err);
    });
    socket.on('close', () => resolve(parse(Buffer.concat(chunks))));
  });
  const head = [`${method} ${target} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Connection: close', `Content-Length: ${contentLength}`];
  for (const [key, value] of Object.entries(headers)) head.push(`${key}: ${value}`);
  socket.write(head.join('\r\n') + '\r\n\r\n');
  return {
    socket,
    // No half-close at the end: a server may take the end of our side for an aborted request.
    write: (data) => {
      if (!socket.destroyed) socket.write(data);
    },
    answer,
  };
}

/** Sends `method target` with a whole body to `origin` (http://127.0.0.1:PORT) and reads the answer until the server closes. */
export async function rawRequest(origin: string, method: string, target: string, body: string | Buffer = '', headers: Record<string, string> = {}, timeoutMs = 30_000): Promise<RawAnswer> {
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  const exchange = openRaw(origin, method, target, payload.length, headers, timeoutMs);
  exchange.write(payload);
  const answer = await exchange.answer;
  if (answer.status === 0) throw new Error(`no HTTP answer to ${method} ${target}: ${JSON.stringify(answer.body)}`);
  return answer;
}

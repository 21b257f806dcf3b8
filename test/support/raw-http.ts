// One HTTP/1.1 request over a plain socket, with the request target sent byte for byte as given.
// fetch and `new URL` resolve dot segments (`/a/../b` becomes `/b`, `%2E%2E` too), so tests of
// how a server judges the raw target need this.
import { connect } from 'node:net';

export interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
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

/** Sends `method target` to `origin` (http://127.0.0.1:PORT) and reads the answer until the server closes. */
export function rawRequest(origin: string, method: string, target: string, body: string | Buffer = '', headers: Record<string, string> = {}, timeoutMs = 30_000): Promise<RawAnswer> {
  const { hostname, port } = new URL(origin);
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no complete answer to ${method} ${target} within ${timeoutMs} ms`)));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => {
      const data = Buffer.concat(chunks);
      const headEnd = data.indexOf('\r\n\r\n');
      if (headEnd < 0) return reject(new Error(`no HTTP answer to ${method} ${target}: ${JSON.stringify(data.toString('latin1'))}`));
      const [statusLine, ...lines] = data.subarray(0, headEnd).toString('latin1').split('\r\n');
      const out: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        out[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const rest = data.subarray(headEnd + 4);
      const content = out['transfer-encoding']?.toLowerCase() === 'chunked' ? dechunk(rest) : rest;
      resolve({ status: Number(statusLine.split(' ')[1]), headers: out, body: content.toString('utf8') });
    });
    const head = [`${method} ${target} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Connection: close', `Content-Length: ${payload.length}`];
    for (const [key, value] of Object.entries(headers)) head.push(`${key}: ${value}`);
    socket.write(head.join('\r\n') + '\r\n\r\n');
    // No half-close: a server may take the end of our side for an aborted request.
    socket.write(payload);
  });
}

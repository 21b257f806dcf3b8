// TLS (issue 10, item 12): with a CA and a certificate for 127.0.0.1 that the test makes with
// openssl, three nodes (client and cluster ports) and a gateway serve HTTPS, and the cluster's own
// clients (Raft messages, chunk pushes, a follower's forward, the gateway's upstream) verify their
// peers against --tls-ca. A file stored through the gateway and through a follower reads back
// whole from every node; a client that does not trust the CA is refused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as undiciRequest } from 'undici';
import { peerAgent } from '../../shared/tls-client.ts';
import { GatewayCluster } from '../support/gateway-cluster.ts';
import type { TestTls } from '../support/storage-cluster.ts';

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** A CA and a server certificate for IP 127.0.0.1 signed by it, as PEM files in `dir`. */
function makeCertificates(dir: string): TestTls {
  const path = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path('ca.key'), '-out', path('ca.pem'), '-days', '2', '-subj', '/CN=Raft DFS test CA');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', path('node.key'), '-out', path('node.csr'), '-subj', '/CN=127.0.0.1');
  writeFileSync(path('node.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n');
  openssl('x509', '-req', '-in', path('node.csr'), '-CA', path('ca.pem'), '-CAkey', path('ca.key'), '-CAcreateserial', '-out', path('node.pem'), '-days', '2', '-extfile', path('node.ext'));
  return { certPath: path('node.pem'), keyPath: path('node.key'), caPath: path('ca.pem') };
}

/** The code of a failed fetch's cause (`SELF_SIGNED_CERT_IN_CHAIN`, …). */
async function failure(request: Promise<Response>): Promise<string> {
  try {
    const res = await request;
    return `answered ${res.status}`;
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? String(err);
  }
}

const opensslMissing = spawnSync('openssl', ['version']).error !== undefined;

describe('TLS on every port, peers verified against --tls-ca', { skip: opensslMissing ? 'openssl is not installed (Debian: apt-get install openssl): it makes the test certificates' : false }, () => {
  let dir: string;
  let cluster: GatewayCluster;
  let trusted: typeof fetch;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dfs-tls-'));
    const tls = makeCertificates(dir);
    // Small chunks, so the file below travels between nodes as many chunk pushes.
    cluster = await GatewayCluster.start({ storage: { tls, flags: ['--chunk-size', '64KiB'] } });
    trusted = cluster.storage.fetch;
  });
  after(async () => {
    await cluster?.stopAll();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('stores and reads a file over HTTPS: through the gateway and through a follower, back from every node', async () => {
    assert.match(cluster.url, /^https:/);
    const leader = await cluster.waitForLeader();
    const follower = cluster.storage.nodes.find((n) => n.id !== leader)!;
    const data = randomBytes(1024 * 1024 + 123);
    const viaGateway = await trusted(`${cluster.url}/files/tls/one`, { method: 'PUT', body: data });
    assert.equal(viaGateway.status, 201, await viaGateway.text());
    const viaFollower = await trusted(`${follower.url}/files/tls/two`, { method: 'PUT', body: data });
    assert.equal(viaFollower.status, 201, await viaFollower.text());
    for (const origin of [cluster.url, ...cluster.storage.nodes.map((n) => n.url)]) {
      for (const name of ['tls/one', 'tls/two']) {
        const res = await trusted(`${origin}/files/${name}`);
        assert.equal(res.status, 200, `${origin}/files/${name}`);
        assert.equal(sha256(new Uint8Array(await res.arrayBuffer())), sha256(data), `${origin}/files/${name} is whole`);
      }
    }
  });

  it("the cluster's clients trust the --tls-ca they are given and nothing else", async () => {
    // What every cluster client (transport, chunk pushes, forwards, the gateway) connects with.
    const other = join(dir, 'other');
    mkdirSync(other);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(other, 'ca.key'), '-out', join(other, 'ca.pem'), '-days', '2', '-subj', '/CN=another CA'], { stdio: 'ignore' });
    const node = cluster.storage.nodes[0];
    const withOwnCa = await undiciRequest(`${node.url}/health`, { dispatcher: peerAgent(join(dir, 'ca.pem')) });
    assert.equal(withOwnCa.statusCode, 200);
    await withOwnCa.body.dump();
    const refused = await undiciRequest(`${node.url}/health`, { dispatcher: peerAgent(join(other, 'ca.pem')) }).then(
      (res) => `answered ${res.statusCode}`,
      (err: unknown) => String((err as { code?: string }).code ?? err),
    );
    assert.match(refused, /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
  });

  it('refuses a client that does not trust the CA, and plain HTTP', async () => {
    const node = cluster.storage.nodes[0];
    for (const url of [`${cluster.url}/status`, `${node.url}/status`, `https://127.0.0.1:${node.clusterPort}/raft/messages`]) {
      assert.match(await failure(fetch(url)), /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/, url);
      // Plain HTTP to a TLS port gets no HTTP answer at all, not even an error page.
      assert.doesNotMatch(await failure(fetch(url.replace('https:', 'http:'))), /^answered /, `plain HTTP to ${url}`);
    }
    // The cluster port speaks TLS too (and still wants the secret).
    const cluster401 = await trusted(`https://127.0.0.1:${node.clusterPort}/raft/messages`, { method: 'POST', body: '[]' });
    assert.ok(cluster401.status === 401 || cluster401.status === 403, `cluster port without the secret: ${cluster401.status}`);
  });
});

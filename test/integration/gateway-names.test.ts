// Names judged from the raw request target (issue 10, item 2): the gateway answers exactly as a
// node does to targets with dot segments, plain or percent-encoded, for every method, and
// forwards the target as sent. Raw sockets, because fetch resolves dot segments before sending.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayCluster } from '../support/gateway-cluster.ts';
import { rawRequest } from '../support/raw-http.ts';
import type { RawAnswer } from '../support/raw-http.ts';

const badTargets = [
  '/files/a/%2E%2E/b',
  '/files/a/%2e%2e/b',
  '/files/a/./b',
  '/files/a/%2E/b',
  '/files/a/../../etc/passwd',
  '/files/a/..',
  '/files/a%2F..%2Fb',
  '/files/a%2f%2e%2e%2fb',
  '/upload/a/../b',
  '/upload/./b',
  '/files/../status',
  '/files/a//b',
  '/files/a/../b?versions',
];
const methods = ['PUT', 'POST', 'DELETE', 'GET', 'HEAD'];

function errorCode(answer: RawAnswer): string | null {
  if (answer.body === '') return null;
  try {
    return (JSON.parse(answer.body) as { error?: { code?: string } }).error?.code ?? null;
  } catch {
    return `not JSON: ${answer.body.slice(0, 80)}`;
  }
}

describe('names judged from the raw request target, on the gateway as on a node', () => {
  let cluster: GatewayCluster;

  before(async () => {
    cluster = await GatewayCluster.start();
  });
  after(async () => {
    await cluster?.stopAll();
  });

  it('refuses every dot segment with the node\'s 400 and stores nothing', async () => {
    const node = cluster.storage.nodes[0].url;
    const mismatches: string[] = [];
    for (const target of badTargets) {
      for (const method of methods) {
        const viaNode = await rawRequest(node, method, target, method === 'PUT' || method === 'POST' ? 'x' : '');
        const viaGateway = await rawRequest(cluster.url, method, target, method === 'PUT' || method === 'POST' ? 'x' : '');
        const seen = `${method} ${target}: node ${viaNode.status} ${errorCode(viaNode)}, gateway ${viaGateway.status} ${errorCode(viaGateway)}`;
        if (viaNode.status !== 400 || viaGateway.status !== 400) mismatches.push(seen);
        else if (method !== 'HEAD' && (errorCode(viaNode) !== 'bad_name' || errorCode(viaGateway) !== 'bad_name' || viaNode.body !== viaGateway.body)) mismatches.push(`${seen}: ${viaNode.body} / ${viaGateway.body}`);
      }
    }
    assert.deepEqual(mismatches, []);
    const listing = (await (await fetch(`${cluster.url}/files`)).json()) as { files: Array<{ name: string }> };
    assert.deepEqual(listing.files.map((f) => f.name), [], 'no file was stored by a refused request');
  });

  it('forwards a valid name as sent: percent-encoded characters reach the node unchanged', async () => {
    const put = await rawRequest(cluster.url, 'PUT', '/files/dir/a%20b%3Fc', 'hello');
    assert.equal(put.status, 201, put.body);
    assert.equal((JSON.parse(put.body) as { name: string }).name, 'dir/a b?c');
    const get = await rawRequest(cluster.url, 'GET', '/files/dir/a%20b%3Fc');
    assert.equal(get.status, 200, get.body);
    assert.equal(get.body, 'hello');
    const versions = await rawRequest(cluster.url, 'GET', '/files/dir/a%20b%3Fc?versions');
    assert.equal(versions.status, 200, versions.body);
    assert.equal((JSON.parse(versions.body) as { name: string }).name, 'dir/a b?c');
  });

  it('serves its own routes only for their exact raw path', async () => {
    const status = await rawRequest(cluster.url, 'GET', '/status');
    assert.equal(status.status, 200);
    assert.equal((JSON.parse(status.body) as { state: string }).state, 'gateway');
    const dotted = await rawRequest(cluster.url, 'GET', '/files/../status');
    assert.equal(dotted.status, 400, dotted.body);
  });
});

// The gateway's S3 settings: on with a root key and a port, off with port 0 or no key; the key's
// two halves go together; errors never show the secret.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../shared/flags.ts';
import { parseGatewayConfig } from '../../gateway/src/config.ts';

const key = { DFS_S3_ACCESS_KEY_ID: 'ROOTKEY1', DFS_S3_SECRET_ACCESS_KEY: 'a-secret-of-some-length' };

describe('gateway S3 settings', () => {
  it('serves S3 on 9000 in us-east-1 when a root key is set; not without one or with port 0', () => {
    assert.deepEqual(parseGatewayConfig([], key).s3, { port: 9000, region: 'us-east-1', domain: null, rootKey: { accessKeyId: 'ROOTKEY1', secretAccessKey: 'a-secret-of-some-length' } });
    assert.equal(parseGatewayConfig([], {}).s3, null);
    assert.equal(parseGatewayConfig(['--s3-port', '0'], key).s3, null);
    assert.equal(parseGatewayConfig(['--s3-port', '9100', '--s3-region', 'eu-west-3'], key).s3?.region, 'eu-west-3');
    assert.equal(parseGatewayConfig([], { ...key, DFS_S3_PORT: '9200' }).s3?.port, 9200);
  });

  it('--s3-domain (DFS_S3_DOMAIN) turns on virtual-host addressing; a domain that is no DNS name is refused', () => {
    assert.equal(parseGatewayConfig(['--s3-domain', 's3.example.com'], key).s3?.domain, 's3.example.com');
    assert.equal(parseGatewayConfig([], { ...key, DFS_S3_DOMAIN: 'localhost' }).s3?.domain, 'localhost');
    for (const bad of ['S3.Example.com', 's3.example.com:9000', '.example.com', 'a..b', 'http://x']) {
      assert.throws(() => parseGatewayConfig(['--s3-domain', bad], key), (err: unknown) => err instanceof ConfigError && /--s3-domain/.test(err.message), bad);
    }
  });

  it('refuses half a key, a bad region, a malformed key, without showing the secret', () => {
    const refused = (argv: string[], env: NodeJS.ProcessEnv, pattern: RegExp) => {
      assert.throws(() => parseGatewayConfig(argv, env), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, pattern);
        assert.ok(!err.message.includes('a-secret') && !err.message.includes('short'), err.message);
        return true;
      });
    };
    refused([], { DFS_S3_ACCESS_KEY_ID: 'ROOTKEY1' }, /go together/);
    refused([], { DFS_S3_SECRET_ACCESS_KEY: 'a-secret-of-some-length' }, /go together/);
    refused(['--s3-region', 'US East'], key, /--s3-region/);
    refused([], { ...key, DFS_S3_SECRET_ACCESS_KEY: 'short' }, /--s3-secret-access-key must be/);
    refused([], { ...key, DFS_S3_ACCESS_KEY_ID: 'bad key!' }, /--s3-access-key-id must be/);
  });
});

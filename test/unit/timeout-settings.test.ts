// A connection is cut after the idle timeout even while the server itself waits (for a commit, a
// leader, a node's answer), so settings where such a wait outlasts the idle timeout are refused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../shared/flags.ts';
import { parseGatewayConfig } from '../../gateway/src/config.ts';
import { parseNodeConfig } from '../../storage-node/src/node/config.ts';

const nodeArgs = ['--id', 'n1', '--peers', 'n1=http://127.0.0.1:8081=http://127.0.0.1:3030', '--cluster-secret', 's'];

describe('idle timeout against the longest wait', () => {
  it('a node refuses an idle timeout not above its request timeout, and takes the defaults', () => {
    assert.throws(() => parseNodeConfig([...nodeArgs, '--idle-timeout-ms', '5000', '--request-timeout-ms', '5000'], {}), (err: unknown) => err instanceof ConfigError && /must exceed --request-timeout-ms/.test(err.message));
    const config = parseNodeConfig(nodeArgs, {});
    assert.ok(config.idleTimeoutMs > config.requestTimeoutMs);
  });

  it('a gateway refuses an idle timeout not above its failover, write and read timeouts', () => {
    const gatewayArgs = ['--nodes', 'http://127.0.0.1:8081'];
    assert.throws(() => parseGatewayConfig([...gatewayArgs, '--idle-timeout', '20000'], {}), (err: unknown) => err instanceof ConfigError && /must exceed --failover-timeout/.test(err.message));
    const config = parseGatewayConfig(gatewayArgs, {});
    assert.ok(config.idleTimeoutMs > config.writeTimeoutMs);
  });
});

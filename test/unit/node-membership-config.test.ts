// How a node's settings say it enters a cluster: --peers founds one, --join enters a running one
// (on fixed ports, at an address others can reach), and the two never go together.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../shared/flags.ts';
import { parseNodeConfig } from '../../storage-node/src/node/config.ts';

const refused = (argv: string[], pattern: RegExp) =>
  assert.throws(() => parseNodeConfig(argv, {}), (err: unknown) => err instanceof ConfigError && pattern.test(err.message));

describe('node settings: founding or joining', () => {
  it('a founder takes its own URLs from --peers', () => {
    const config = parseNodeConfig(['--id', 'n1', '--peers', 'n1=http://127.0.0.1:8081=http://127.0.0.1:3030', '--cluster-secret', 's'], {});
    assert.deepEqual(config.self, { clientUrl: 'http://127.0.0.1:8081', clusterUrl: 'http://127.0.0.1:3030' });
    assert.equal(config.join, null);
    assert.equal(config.learner, false);
  });

  it('a joining node advertises its host and ports, and may stay a learner', () => {
    const config = parseNodeConfig(['--id', 'n4', '--join', 'http://127.0.0.1:8081', '--client-port', '8084', '--cluster-port', '3033', '--cluster-secret', 's', '--learner'], {});
    assert.deepEqual(config.self, { clientUrl: 'http://127.0.0.1:8084', clusterUrl: 'http://127.0.0.1:3033' });
    assert.equal(config.join, 'http://127.0.0.1:8081');
    assert.equal(config.learner, true);
    const advertised = parseNodeConfig(['--id', 'n4', '--join', 'http://10.0.0.1:8081', '--host', '0.0.0.0', '--advertise-host', '10.0.0.4', '--cluster-secret', 's', '--learner=false'], {});
    assert.deepEqual(advertised.self, { clientUrl: 'http://10.0.0.4:8081', clusterUrl: 'http://10.0.0.4:3030' });
    assert.equal(advertised.learner, false);
    assert.equal(parseNodeConfig(['--id', 'n4', '--join', 'http://127.0.0.1:8081', '--cluster-secret', 's'], { DFS_LEARNER: 'true' }).learner, true);
  });

  it('refuses what cannot work', () => {
    refused(['--id', 'n4', '--peers', 'n4=http://127.0.0.1:8084=http://127.0.0.1:3033', '--join', 'http://127.0.0.1:8081', '--cluster-secret', 's'], /give one of them/);
    refused(['--id', 'n4', '--join', 'http://127.0.0.1:8081', '--client-port', '0', '--cluster-secret', 's'], /fixed ports/);
    refused(['--id', 'n4', '--join', 'ftp://x', '--cluster-secret', 's'], /--join URL "ftp:\/\/x" is not an http\(s\) URL/);
    refused(['--id', 'n4', '--join', 'http://127.0.0.1:8081', '--host', '0.0.0.0', '--cluster-secret', 's'], /--advertise-host/);
    refused(['--id', 'n4', '--join', 'http://127.0.0.1:8081', '--cluster-secret', 's', '--learner=maybe'], /--learner is true or false/);
  });

  it('takes a zone and a disk high-water mark from flags or the environment', () => {
    const founder = ['--id', 'n1', '--peers', 'n1=http://127.0.0.1:8081=http://127.0.0.1:3030', '--cluster-secret', 's'];
    const plain = parseNodeConfig(founder, {});
    assert.deepEqual([plain.zone, plain.diskHighWater], [null, 90]);
    const zoned = parseNodeConfig([...founder, '--zone', 'rack-1', '--disk-high-water', '75'], {});
    assert.deepEqual([zoned.zone, zoned.diskHighWater], ['rack-1', 75]);
    const fromEnv = parseNodeConfig(founder, { DFS_ZONE: 'b', DFS_DISK_HIGH_WATER: '1' });
    assert.deepEqual([fromEnv.zone, fromEnv.diskHighWater], ['b', 1]);
    refused([...founder, '--zone', 'a/b'], /--zone "a\/b" must be 1 to 64 letters/);
    refused([...founder, '--disk-high-water', '0'], /--disk-high-water must be an integer from 1 to 100/);
    refused([...founder, '--disk-high-water', '101'], /--disk-high-water must be an integer from 1 to 100/);
  });
});

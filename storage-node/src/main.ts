// The storage node process: `npm run node -- --id n1 --peers … --cluster-secret …` (see --help).
import '../../shared/v8-tuning.ts';
import './node/thread-pool.ts';
import { runProgram } from '../../shared/run-program.ts';
import { nodeHelp, parseNodeConfig } from './node/config.ts';
import { startStorageNode } from './node/storage-node.ts';

await runProgram({
  name: 'storage node',
  help: nodeHelp,
  parse: parseNodeConfig,
  start: startStorageNode,
  // A removed node stops serving and exits (0): it is no longer part of the cluster.
  ended: (node) => node.removed,
  describe: (config, node) =>
    `node ${config.id}: client API on ${config.tls === null ? 'http' : 'https'}://${config.host}:${node.clientPort}, cluster port ${node.clusterPort}, data in ${config.dataDir}`,
});

// The storage node process: `npm run node -- --id n1 --peers … --cluster-secret …` (see --help).
import { ConfigError } from '../../shared/flags.ts';
import { nodeHelp, parseNodeConfig } from './node/config.ts';
import { startStorageNode } from './node/storage-node.ts';

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(`${nodeHelp()}\n`);
  process.exit(0);
}

let config;
try {
  config = parseNodeConfig(argv, process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`storage node: ${err.message}\n`);
  process.exit(2);
}

const node = await startStorageNode(config);
console.log(`node ${config.id}: client API on http://${config.host}:${node.clientPort}, cluster port ${node.clusterPort}, data in ${config.dataDir}`);

let stopping = false;
const onSignal = (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`node ${config.id}: ${signal}, shutting down`);
  setTimeout(() => process.exit(1), 8000).unref();
  node.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(`node ${config.id}: shutdown failed:`, err);
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => onSignal('SIGTERM'));
process.on('SIGINT', () => onSignal('SIGINT'));

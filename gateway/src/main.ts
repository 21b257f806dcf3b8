// The gateway process: `npm run gateway -- --port 8080 --nodes http://127.0.0.1:8081,...` (see --help).
import { ConfigError } from '../../shared/flags.ts';
import { gatewayHelp, parseGatewayConfig } from './config.ts';
import { startGateway } from './gateway.ts';

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(`${gatewayHelp()}\n`);
  process.exit(0);
}

let config;
try {
  config = parseGatewayConfig(argv, process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`gateway: ${err.message}\n`);
  process.exit(2);
}

const gateway = await startGateway(config);
console.log(`gateway ${config.id}: listening on http://${config.host}:${gateway.port}, seeds ${config.nodes.join(', ')}`);

let stopping = false;
const onSignal = (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`gateway ${config.id}: ${signal}, shutting down`);
  setTimeout(() => process.exit(1), 8000).unref();
  gateway.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(`gateway ${config.id}: shutdown failed:`, err);
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => onSignal('SIGTERM'));
process.on('SIGINT', () => onSignal('SIGINT'));

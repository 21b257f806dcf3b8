// The gateway process: `npm run gateway -- --port 8080 --nodes http://127.0.0.1:8081,...` (see --help).
import { runProgram } from '../../shared/run-program.ts';
import { gatewayHelp, parseGatewayConfig } from './config.ts';
import { startGateway } from './gateway.ts';

await runProgram({
  name: 'gateway',
  help: gatewayHelp,
  parse: parseGatewayConfig,
  start: startGateway,
  describe: (config, gateway) => `gateway ${config.id}: listening on ${config.tls === null ? 'http' : 'https'}://${config.host}:${gateway.port}, seeds ${config.nodes.join(', ')}`,
});

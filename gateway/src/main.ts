// The gateway process: `npm run gateway -- --port 8080 --nodes http://127.0.0.1:8081,...` (see --help).
import '../../shared/v8-tuning.ts';
import { runProgram } from '../../shared/run-program.ts';
import { gatewayHelp, parseGatewayConfig } from './config.ts';
import { startGateway } from './gateway.ts';

await runProgram({
  name: 'gateway',
  help: gatewayHelp,
  parse: parseGatewayConfig,
  start: startGateway,
  describe: (config, gateway) => {
    const scheme = config.tls === null ? 'http' : 'https';
    // The key id only: the secret never goes to a log.
    const s3 = config.s3 === null || gateway.s3Port === null
      ? 'S3 API off (no root key, or --s3-port 0)'
      : `S3 API on ${scheme}://${config.host}:${gateway.s3Port} (region ${config.s3.region}, access key ${config.s3.rootKey.accessKeyId})`;
    return `gateway ${config.id}: listening on ${scheme}://${config.host}:${gateway.port}, seeds ${config.nodes.join(', ')}; ${s3}`;
  },
});

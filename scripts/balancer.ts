/**
 * The load balancer in front of the gateways, as its own process (`npm run cluster`, docker-compose's
 * `balancer` service). Configured by FERRY_BALANCER_UPSTREAMS, PORT and HOST.
 */
import { parseEnv } from '../config/env';
import { createLogger } from '../config/logger';
import { balancerEnvSchema, startBalancer } from '../processes/balancer';

async function main(): Promise<void> {
  const env = parseEnv(balancerEnvSchema);
  const logger = createLogger('balancer', env.LOG_LEVEL);
  const balancer = await startBalancer({
    upstreams: env.FERRY_BALANCER_UPSTREAMS,
    port: env.PORT,
    host: env.HOST,
    ejectMs: env.FERRY_BALANCER_EJECT_MS,
    onUpstreamChange: (upstream, state, reason) => logger.warn({ upstream, state, reason }, `balancer: gateway ${state}`),
  });
  logger.info({ port: balancer.port, upstreams: env.FERRY_BALANCER_UPSTREAMS }, 'balancer listening');
  const stop = () => {
    logger.info({ counts: balancer.counts() }, 'balancer stopping');
    void balancer.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`balancer failed: ${(err as Error).message}\n`);
  process.exit(1);
});

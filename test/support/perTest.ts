/**
 * What an integration test starts, closed after each test: first what it deferred (extra gateways,
 * which use the pipeline's connections), then its pipeline (so nothing is still delivering), then its
 * receivers.
 *
 *   const scope = perTest();
 *   scope.pipeline = await TestPipeline.start({ … });
 *   const hook = await scope.receiver();
 */
import type { TestPipeline } from './pipeline';
import { Receiver, type Responder } from './receiver';

export interface TestScope {
  pipeline: TestPipeline | undefined;
  /** Starts a receiver that is closed after the test. */
  receiver(responder?: Responder): Promise<Receiver>;
  /** Runs `close` after the test, before the pipeline is closed. */
  defer(close: () => Promise<void>): void;
}

export function perTest(): TestScope {
  const receivers: Receiver[] = [];
  const closers: Array<() => Promise<void>> = [];
  const scope: TestScope = {
    pipeline: undefined,
    async receiver(responder) {
      const r = await Receiver.start(responder);
      receivers.push(r);
      return r;
    },
    defer(close) {
      closers.push(close);
    },
  };
  afterEach(async () => {
    await Promise.all(closers.splice(0).map((close) => close()));
    await scope.pipeline?.close();
    scope.pipeline = undefined;
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });
  return scope;
}

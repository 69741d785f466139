/**
 * A very hot user must not break its workflow: the relay coalesces the user's new log rows into few
 * signals, and the workflow continues-as-new by signal count, while every event arrives once and in
 * the order the relay signalled them (the log's order).
 */
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { PipelineSettings } from '../../workflows/settings';
import type { LogSignalInput } from '../../workflows/definitions';
import { TestPipeline, uniqueId, webhookDestination, workspaceWith } from '../support/pipeline';
import { Receiver } from '../support/receiver';

interface SignalHistory {
  /** Per run, oldest first: the messageIds of each signal, in signal order. */
  readonly runs: string[][][];
}

/** Reads every run of the workflow, following the continue-as-new chain back from the latest run. */
async function signalHistory(client: Client, workflowId: string): Promise<SignalHistory> {
  const runs: string[][][] = [];
  let runId: string | undefined;
  for (;;) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events = history.events ?? [];
    const signals = events
      .map((e) => e.workflowExecutionSignaledEventAttributes)
      .filter((a): a is NonNullable<typeof a> => !!a)
      .map((a) => defaultPayloadConverter.fromPayload<LogSignalInput>(a.input!.payloads![0]!).refs.map((r) => r.messageId));
    runs.unshift(signals);
    runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId ?? undefined;
    if (!runId) return { runs };
  }
}

async function hotUser(settings: Partial<PipelineSettings>, waves: number, perWave: number) {
  const receiver = await Receiver.start();
  const sourceId = uniqueId('src');
  const writeKey = uniqueId('wk');
  const pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', `${receiver.url}/hot`)]), settings });
  try {
    const userId = uniqueId('hot');
    const total = waves * perWave;
    for (let wave = 0; wave < waves; wave++) {
      // Open the connections first (fetch keeps them alive), so that the wave's requests reach the
      // gateway together instead of trickling in behind one TCP handshake each.
      await Promise.all(Array.from({ length: perWave }, () => fetch(`${pipeline.gatewayUrl}/version`).then((r) => r.arrayBuffer())));
      // All requests of a wave are in flight at once.
      const responses = await Promise.all(
        Array.from({ length: perWave }, (_, i) => {
          const n = wave * perWave + i;
          return pipeline.post('/v1/track', { userId, messageId: `${userId}-${n}`, event: 'Hot', properties: { n } }, writeKey);
        }),
      );
      expect(responses.map((r) => r.status)).toEqual(responses.map(() => 200));
    }
    await receiver.waitFor((r) => r.delivered.length >= total, 90_000, `${total} deliveries`);
    const delivered = receiver.deliveredBodies<{ messageId: string }>().map((b) => b.messageId);
    const history = await signalHistory(pipeline.client, pipeline.workflowId(sourceId, userId));
    return { delivered, history, total };
  } finally {
    await pipeline.close();
    await receiver.close();
  }
}

describe('a very hot user', () => {
  it('300 concurrent single-event requests arrive once each, in signal order, over far fewer signals', async () => {
    const { delivered, history, total } = await hotUser({}, 1, 300);
    const signalled = history.runs.flat(2);
    const signals = history.runs.flat().length;
    expect(new Set(delivered).size).toBe(total);
    expect(delivered).toHaveLength(total);
    // The order the relay signalled is the order of delivery.
    expect(signalled).toEqual(delivered);
    // Coalescing: each relay batch signals the user once with all of its new rows.
    expect(signals).toBeLessThanOrEqual(total / 10);
  });

  it('keeps that order across continue-as-new when the run rolls over every few signals', async () => {
    const { delivered, history, total } = await hotUser({ continueAsNewAfterSignals: 2 }, 3, 100);
    const signalled = history.runs.flat(2);
    expect(history.runs.length).toBeGreaterThan(1);
    expect(new Set(delivered).size).toBe(total);
    expect(signalled).toEqual(delivered);
  });
});

/**
 * The delivery step's time budget, on a fake clock: a step returns before Temporal's timeout with what
 * it settled, so that two steps of one lane never send at once. The real-stack version of this is in
 * test/integration/delivery.test.ts.
 */
import { createDeliverStep, type StepBudget } from '../../activities/deliver';
import type { DeliveryProgress } from '../../activities/deliver/progress';
import type { Transport } from '../../activities/deliver/transport';
import { parseWorkspace } from '../../config/workspace';
import type { HttpDeliveryRequest } from '../../delivery/requests';
import type { FerryEvent } from '../../events/event';

const SEND_MS = 2_000;
const HTTP_TIMEOUT_MS = 5_000;

const workspace = parseWorkspace(
  { sources: [{ id: 'src', writeKey: 'wk', enabled: true, destinations: [{ id: 'hook', enabled: true, destinationDefinition: { name: 'WEBHOOK' }, config: { webhookUrl: 'http://127.0.0.1:9/in' } }] }] },
  'test workspace',
);

function harness(budget: (() => StepBudget | undefined) | undefined) {
  let clock = 0;
  const sends: Array<{ messageId: string; timeoutMs: number; at: number }> = [];
  const onSend: Array<() => void> = [];
  const http: Transport<HttpDeliveryRequest> = async (request, options) => {
    sends.push({ messageId: request.url.split('#')[1]!, timeoutMs: options.timeoutMs, at: clock });
    clock += SEND_MS;
    onSend.forEach((f) => f());
    return { kind: 'delivered', status: 200 };
  };
  const recorded: string[] = [];
  const progress = {
    recorded: async () => new Map(),
    record: async (_lane: unknown, result: { messageId: string }) => void recorded.push(result.messageId),
  } as unknown as DeliveryProgress;
  const step = createDeliverStep({
    workspace,
    pool: undefined as never,
    transform: async ({ events }) => events.map((e) => ({ messageId: e.messageId, outcome: 'ok' as const, requests: [{ kind: 'http' as const, method: 'POST' as const, url: `http://127.0.0.1:9/in#${e.messageId}`, headers: {}, body: e }] })),
    transports: { http, warehouse: async () => ({ kind: 'delivered' }) },
    progress,
    recordDeadLetters: async () => undefined,
    timeoutMs: HTTP_TIMEOUT_MS,
    now: () => clock,
    readEvents: async (seqs) => new Map(seqs.map((seq) => [seq, { messageId: `m${seq}`, type: 'track', event: 'e' } as unknown as FerryEvent])),
    budget,
  });
  const items = Array.from({ length: 10 }, (_, i) => ({ seq: i + 1, messageId: `m${i + 1}`, attempts: 0 }));
  const run = () => step({ sourceId: 'src', workflowId: 'wf', destinationId: 'hook', items });
  return { run, sends, recorded, onSend };
}

describe('delivery step budget', () => {
  it('sends every item when it runs without a budget', async () => {
    const h = harness(undefined);
    const { results } = await h.run();
    expect(results.map((r) => r.messageId)).toEqual(h.sends.map((s) => s.messageId));
    expect(results).toHaveLength(10);
  });

  it('stops before a send that would not fit, and cuts the last request’s timeout to what is left', async () => {
    // 10 s timeout, less a 1 s margin: sends start at 0, 2, 4 and 6 s; one at 8 s would end at 10 s.
    const h = harness(() => ({ timeoutMs: 10_000 }));
    const { results } = await h.run();
    expect(h.sends.map((s) => [s.messageId, s.at, s.timeoutMs])).toEqual([
      ['m1', 0, HTTP_TIMEOUT_MS],
      ['m2', 2_000, HTTP_TIMEOUT_MS],
      ['m3', 4_000, HTTP_TIMEOUT_MS],
      ['m4', 6_000, 3_000],
    ]);
    // What it returns is what it settled, each recorded before the next send.
    expect(results.map((r) => [r.messageId, r.outcome])).toEqual(['m1', 'm2', 'm3', 'm4'].map((id) => [id, 'delivered']));
    expect(h.recorded).toEqual(['m1', 'm2', 'm3', 'm4']);
  });

  it('always sends the first item, even when the budget is too small for it', async () => {
    const h = harness(() => ({ timeoutMs: 500 }));
    const { results } = await h.run();
    expect(h.sends.map((s) => [s.messageId, s.timeoutMs])).toEqual([['m1', 1_000]]);
    expect(results).toHaveLength(1);
  });

  it('sends nothing more once Temporal cancels it', async () => {
    const abort = new AbortController();
    const h = harness(() => ({ timeoutMs: 60_000, signal: abort.signal }));
    h.onSend.push(() => {
      if (h.sends.length === 2) abort.abort();
    });
    const { results } = await h.run();
    expect(h.sends.map((s) => s.messageId)).toEqual(['m1', 'm2']);
    expect(results.map((r) => r.messageId)).toEqual(['m1', 'm2']);
  });

  it('sends nothing when cancelled before its first send', async () => {
    const abort = new AbortController();
    abort.abort();
    const h = harness(() => ({ timeoutMs: 60_000, signal: abort.signal }));
    expect(await h.run()).toEqual({ results: [] });
    expect(h.sends).toEqual([]);
  });
});

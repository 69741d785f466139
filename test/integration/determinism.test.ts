/**
 * Replays the recorded histories in test/fixtures/histories against the workflow code as it is now. A
 * change to workflows/ that makes a run take another path than its history (a timer or activity added,
 * moved or removed, awaits reordered) would fail every workflow task of every run open at deployment;
 * here it fails the build instead. The README's "Workflow versioning and determinism" says what to do
 * then: guard the change with patched(), or record the fixtures again when no old run can be affected.
 */
import { Worker, type ReplayWorkerOptions } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { DeterminismViolationError } from '@temporalio/workflow';
import { DELIVERY_FAILED, type DeliverStepResult } from '../../activities/contract';
import { RESUME_LANES_SIGNAL } from '../../control/state';
import { bundleFerryWorkflows, workflowSinks, workflowSource } from '../../workers/workflowSource';
import { PIPELINE_WORKFLOW_TYPE } from '../../workflows/definitions';
import type { PipelineArgs } from '../../workflows/pipeline';
import { SUPERVISOR_WORKFLOW_TYPE } from '../../workflows/supervisorDefinitions';
import { REPLAY_WORKFLOW_TYPE } from '../../workflows/replayDefinitions';
import { type HistoryFixture, type RecordedRun, historyOf, readHistoryFixtures } from '../support/histories';
import { testInfra } from '../support/pipeline';

const { EventType } = temporal.api.enums.v1;
type EventType = temporal.api.enums.v1.EventType;

const silent = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

interface Replayed {
  readonly scenario: string;
  readonly workflowType: string;
  readonly runId: string;
  readonly error?: Error;
}

/**
 * Replays every run of the fixtures with the given bundle, as a Ferry worker runs it: the same bundle
 * source and the same sinks (the bundled interceptors call them).
 */
async function replay(bundle: { workflowBundlePath?: string; workflowCode?: string }, fixtures: readonly HistoryFixture[]): Promise<Replayed[]> {
  const runs = fixtures.flatMap((fixture) => fixture.runs.map((run) => ({ scenario: fixture.scenario, run })));
  const options: ReplayWorkerOptions = { ...workflowSource(bundle), sinks: workflowSinks(undefined), replayName: 'ferry-determinism' };
  const results: Replayed[] = [];
  // One history at a time, in order: the nth result is the nth run's.
  for await (const result of Worker.runReplayHistories(options, runs.map(({ run }) => ({ workflowId: run.workflowId, history: historyOf(run) })))) {
    const { scenario, run } = runs[results.length]!;
    results.push({ scenario, workflowType: run.workflowType, runId: run.runId, error: result.error });
  }
  expect(results).toHaveLength(runs.length);
  return results;
}

const failures = (results: readonly Replayed[]) => results.filter((r) => r.error).map((r) => `${r.scenario} ${r.workflowType} ${r.runId}: ${r.error!.name}: ${r.error!.message}`);

/** What a recorded run did, read from its history, for the coverage checks below. */
interface RunFacts {
  readonly scenario: string;
  readonly workflowType: string;
  readonly eventTypes: ReadonlySet<EventType>;
  readonly localActivities: ReadonlyArray<{ readonly type: string; readonly result?: unknown; readonly failureType?: string; readonly failed: boolean }>;
  readonly activities: ReadonlyArray<{ readonly type: string; readonly input: unknown }>;
  readonly signals: ReadonlySet<string>;
  readonly updates: ReadonlySet<string>;
  /** The next run's input, when this one continued-as-new. */
  readonly continuedWith?: unknown;
}

/** The first payload, as the SDK's default converter wrote it (JSON; an empty payload is undefined). */
function firstPayload(payloads: temporal.api.common.v1.IPayloads | null | undefined): unknown {
  const data = payloads?.payloads?.[0]?.data;
  if (!data || data.length === 0) return undefined;
  return JSON.parse(Buffer.from(data).toString('utf8'));
}

function factsOf(scenario: string, run: RecordedRun): RunFacts {
  const events = historyOf(run).events ?? [];
  const defined = <T>(values: ReadonlyArray<T | null | undefined>): T[] => values.filter((v): v is T => v !== null && v !== undefined);
  return {
    scenario,
    workflowType: run.workflowType,
    eventTypes: new Set(defined(events.map((e) => e.eventType))),
    // A local activity leaves no activity events, only a marker with what core recorded of it.
    localActivities: defined(events.map((e) => e.markerRecordedEventAttributes))
      .filter((marker) => marker.markerName === 'core_local_activity')
      .map((marker) => ({
        type: (firstPayload(marker.details?.data) as { activity_type: string }).activity_type,
        result: firstPayload(marker.details?.result),
        failed: !!marker.failure,
        failureType: marker.failure?.applicationFailureInfo?.type ?? marker.failure?.cause?.applicationFailureInfo?.type ?? undefined,
      })),
    activities: defined(events.map((e) => e.activityTaskScheduledEventAttributes)).map((a) => ({ type: a.activityType?.name ?? '', input: firstPayload(a.input) })),
    signals: new Set(defined(events.map((e) => e.workflowExecutionSignaledEventAttributes?.signalName))),
    updates: new Set(defined(events.map((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name))),
    continuedWith: defined(events.map((e) => e.workflowExecutionContinuedAsNewEventAttributes)).map((a) => firstPayload(a.input))[0],
  };
}

const steps = (run: RunFacts) => run.localActivities.filter((la) => la.type === 'deliverStep');
const stepResults = (run: RunFacts) => steps(run).flatMap((la) => (la.result as DeliverStepResult | undefined) ?? []);
const pipeline = (check: (run: RunFacts) => boolean) => (run: RunFacts) => run.workflowType === PIPELINE_WORKFLOW_TYPE && check(run);
const supervisor = (check: (run: RunFacts) => boolean) => (run: RunFacts) => run.workflowType === SUPERVISOR_WORKFLOW_TYPE && check(run);
const replayJob = (check: (run: RunFacts) => boolean) => (run: RunFacts) => run.workflowType === REPLAY_WORKFLOW_TYPE && check(run);
const completed = (run: RunFacts) => run.eventTypes.has(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED);

/**
 * The paths through the workflow code that the fixtures must keep covering: a re-recording that lost
 * one (a scenario that no longer reaches it) fails here. Each names the run that shows it.
 */
const COVERAGE: ReadonlyArray<[string, (run: RunFacts) => boolean]> = [
  ['pipeline: events delivered', pipeline((run) => stepResults(run).some((r) => r.results.some((item) => item.outcome === 'delivered')))],
  [
    "pipeline: a destination's retryable answer, then a backoff timer",
    pipeline((run) => steps(run).some((la) => la.failureType === DELIVERY_FAILED) && run.eventTypes.has(EventType.EVENT_TYPE_TIMER_FIRED)),
  ],
  ["pipeline: a step failing for Ferry's own reason", pipeline((run) => steps(run).some((la) => la.failed && la.failureType !== DELIVERY_FAILED))],
  ['pipeline: an event aborted to the dead letters', pipeline((run) => stepResults(run).some((r) => r.results.some((item) => item.outcome === 'aborted')))],
  ['pipeline: the log held while a lane waits', pipeline((run) => run.localActivities.some((la) => la.type === 'holdLog'))],
  ['pipeline: a lane parked on a pause, then woken', pipeline((run) => stepResults(run).some((r) => r.paused !== undefined) && run.signals.has(RESUME_LANES_SIGNAL))],
  [
    'pipeline: continued-as-new with pending events carried over',
    pipeline((run) => ((run.continuedWith as PipelineArgs | undefined)?.carry?.lanes ?? []).some((lane) => lane.items.length > 0)),
  ],
  ['pipeline: finished when idle', pipeline((run) => run.eventTypes.has(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED) && run.localActivities.some((la) => la.type === 'releaseLog'))],
  ["supervisor: an operator's pause, resume, degrade and recover", supervisor((run) => ['ferry.pause', 'ferry.resume', 'ferry.degrade', 'ferry.recover'].every((u) => run.updates.has(u)))],
  ['supervisor: health reports', supervisor((run) => run.signals.has('ferry.health'))],
  ['supervisor: a breaker probing a paused destination', supervisor((run) => run.activities.some((a) => a.type === 'wakeLanes' && (a.input as { limit?: number }).limit !== undefined))],
  ['supervisor: alerts sent', supervisor((run) => run.activities.some((a) => a.type === 'sendAlert'))],
  ['supervisor: continued-as-new', supervisor((run) => run.eventTypes.has(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW))],
  [
    "replay: a job that waits out a destination's retryable answer and completes",
    replayJob((run) => run.activities.some((a) => a.type === 'replayDeliverLanes') && run.eventTypes.has(EventType.EVENT_TYPE_TIMER_FIRED) && completed(run)),
  ],
  ['replay: a dry run that only counts', replayJob((run) => run.activities.some((a) => a.type === 'replayPlan') && !run.activities.some((a) => a.type === 'replayDeliverLanes') && completed(run))],
  ['replay: a re-drive of dead letters', replayJob((run) => run.activities.some((a) => a.type === 'replayDeliverLanes' && (a.input as { kind?: string }).kind === 'redrive') && completed(run))],
];

describe('workflow determinism', () => {
  const fixtures = readHistoryFixtures();

  it('covers each scenario the workflows must keep replaying', () => {
    const facts = fixtures.flatMap((fixture) => fixture.runs.map((run) => factsOf(fixture.scenario, run)));
    expect(COVERAGE.filter(([, check]) => !facts.some(check)).map(([what]) => what)).toEqual([]);
  });

  it('replays every recorded history with the current workflow code', async () => {
    const results = await replay({ workflowBundlePath: testInfra().workflowBundlePath }, fixtures);
    expect(failures(results)).toEqual([]);
  });

  describe('a changed release', () => {
    // A pipeline's runs and the supervisor's: enough to show the change is caught, and quick.
    const proofFixtures = fixtures.filter((f) => ['normal', 'supervisor-continue-as-new'].includes(f.scenario));
    const code: Record<string, string> = {};

    beforeAll(async () => {
      // Bundled in parallel: each bundle is seconds of CPU.
      await Promise.all(
        ['changedRelease', 'patchedRelease'].map(async (release) => {
          code[release] = await bundleFerryWorkflows({ logger: silent, extraInterceptorModules: [require.resolve(`../support/${release}`)] });
        }),
      );
    });

    it('fails to replay when it adds a timer unguarded', async () => {
      expect(proofFixtures).toHaveLength(2);
      const results = await replay({ workflowCode: code.changedRelease }, proofFixtures);
      const caught = results.filter((r) => r.error instanceof DeterminismViolationError);
      expect(results.filter((r) => !caught.includes(r)).map((r) => `${r.scenario} ${r.workflowType} ${r.runId}: ${r.error ? r.error.message : 'replayed without error'}`)).toEqual([]);
      expect(caught[0]?.error?.message).toMatch(/nondeterminism/i);
    });

    it('replays when the same change is guarded by patched()', async () => {
      const results = await replay({ workflowCode: code.patchedRelease }, proofFixtures);
      expect(failures(results)).toEqual([]);
    });
  });
});

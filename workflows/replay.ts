/**
 * A replay or a re-drive, as a workflow of its own: it pages through the log's range (or the
 * destination's dead letters) and sends each user's events again, in order, through the same delivery
 * step as live traffic: transforms, user transformations, pauses and dead letters apply. Every send
 * is recorded under the job's own lanes (`<job id>/<source>/<user>`), so a job that resumes after a crash skips
 * what it already sent, and the pipeline's messageId dedup never sees these events.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ItemResult, StepItem } from '../activities/contract';
import { DELIVERY_FAILED } from '../activities/contract';
import type { ReplayLaneOutcome, ReplayRow } from '../activities/replayContract';
import { replayProgressQuery, type ReplayArgs, type ReplayResult } from './replayDefinitions';
import { ReplayJob } from './replayState';
import type { SettingsActivity } from './settings';

/**
 * Rows read per page. Users' events interleave in the log, so a larger page gives each lane more
 * events per call. Measured (bench/replay.ts, 200 users × 20 events, --rate 500, live traffic
 * flowing): 200-row pages and 25 lanes per call replayed 82 events/s; 1 000 and 50, 373 events/s.
 */
const PAGE_ROWS = 1_000;
/** Lanes (user × destination) per activity call, each a delivery step of its own. */
const LANES_PER_CALL = 50;
/** Calls running at once. */
const CALLS_AT_ONCE = 4;
/** Pages per run before continuing as new: each page's rows (about 150 KB) are in the history. */
const PAGES_PER_RUN = 5;
/** How often a job waiting on a pause, degraded mode or the live backlog looks again. */
const WAIT_POLL_MS = 2_000;

const settingsActivity = proxyLocalActivities<SettingsActivity>({ startToCloseTimeout: '10s' });
/** Reads and marks in Ferry's database; retried until they work, visibly in the UI. */
const reads = proxyActivities<Activities>({ startToCloseTimeout: '1 minute', retry: { initialInterval: '1s', maximumInterval: '30s' } });

interface Lane {
  readonly sourceId: string;
  readonly userKey: string;
  readonly destinationId: string;
  items: StepItem[];
  /** Not before this (epoch ms): a backoff after a failure, or the next look at a pause. */
  retryAt: number;
  /** Items settled so far. */
  settled: number;
}

export async function replayWorkflow(args: ReplayArgs): Promise<ReplayResult> {
  const settings = await settingsActivity.pipelineSettings();
  const job = new ReplayJob(args, Date.now());
  setHandler(replayProgressQuery, () => job.progress(Date.now()));
  const show = () => setCurrentDetails(job.details(Date.now()));
  const { request } = args;

  if (!args.carry) {
    const plan = await reads.replayPlan({ request });
    if (args.dryRun) {
      job.planned(plan.deliveries);
      job.completed();
      show();
      return { progress: job.progress(Date.now()), plan };
    }
    job.planned(plan.deliveries);
    show();
  }

  // Regular activities, not local ones: a replay is not on the live path, and its steps show in the UI.
  const stepOptions: ActivityOptions = {
    startToCloseTimeout: settings.deliverTimeoutMs,
    // The destination's answers are retried here, by its retry policy; anything else by Temporal.
    retry: { initialInterval: '1s', maximumInterval: '30s', nonRetryableErrorTypes: [DELIVERY_FAILED] },
  };
  const steps = proxyActivities<Activities>(stepOptions);
  const { workflowId } = workflowInfo();

  /**
   * Sends a page's lanes in rounds: each round takes the ready lanes' next batches, many lanes per
   * call, a few calls at once. A lane that failed waits out its backoff; one that found its
   * destination paused waits a poll interval; the rest go on.
   */
  const runPage = async (lanes: Lane[]): Promise<void> => {
    // A round sends about a second's worth at the paced rate, so a small job is spread out too.
    const roundBudget = Math.max(1, Math.floor(args.pacing.eventsPerSecond));
    while (lanes.some((lane) => lane.items.length > 0)) {
      const now = Date.now();
      const ready = lanes.filter((lane) => lane.items.length > 0 && lane.retryAt <= now);
      if (ready.length === 0) {
        await sleep(Math.max(1, Math.min(...lanes.filter((l) => l.items.length > 0).map((l) => l.retryAt)) - now));
        continue;
      }
      const round: Array<{ lane: Lane; items: StepItem[] }> = [];
      // Whole batches (a step's fixed costs are per call), to the lanes that have sent least first,
      // so that every user moves on from round to round.
      ready.sort((a, b) => a.settled - b.settled);
      let budget = roundBudget;
      for (const lane of ready) {
        if (budget <= 0) break;
        const items = lane.items.slice(0, Math.min(settings.maxBatchSize, budget));
        round.push({ lane, items });
        budget -= items.length;
      }
      await inParallel(chunks(round, LANES_PER_CALL), CALLS_AT_ONCE, async (call) => {
        const wait = job.delayFor(
          call.reduce((n, { items }) => n + items.length, 0),
          Date.now(),
        );
        if (wait > 0) await sleep(wait);
        const outcomes = await steps.replayDeliverLanes({
          kind: request.kind,
          lanes: call.map(({ lane, items }) => ({ sourceId: lane.sourceId, workflowId: `${workflowId}/${lane.sourceId}/${lane.userKey}`, destinationId: lane.destinationId, items })),
        });
        for (const [i, outcome] of outcomes.entries()) {
          const lane = call[i]?.lane;
          if (lane) applyOutcome(lane, outcome);
        }
      });
      show();
    }
  };

  const applyOutcome = (lane: Lane, outcome: ReplayLaneOutcome): void => {
    if ('step' in outcome) {
      settle(lane, outcome.step.results);
      if (!outcome.step.paused) {
        job.running();
        return;
      }
      // Paused destination or degraded mode: no attempt was made; look again shortly.
      job.waiting(outcome.step.paused.reason);
      lane.retryAt = Date.now() + WAIT_POLL_MS;
      return;
    }
    // The destination's answer: the failing item is tried again after the policy's backoff, and
    // aborted (a dead letter) by the step once the policy gives up.
    const { failure } = outcome;
    settle(lane, failure.results);
    const [failing] = lane.items;
    if (failing) lane.items[0] = { ...failing, attempts: failing.attempts + 1, firstFailureAt: failing.firstFailureAt ?? failure.failedAt };
    lane.retryAt = Math.max(Date.now(), failure.failedAt) + failure.retryInMs;
  };

  const settle = (lane: Lane, results: readonly ItemResult[]): void => {
    if (results.length === 0) return;
    lane.items = lane.items.slice(results.length);
    lane.settled += results.length;
    job.settled(results);
    show();
  };

  let pagesThisRun = 0;
  for (;;) {
    while ((await reads.liveBacklog()) > args.pacing.maxLiveBacklog) {
      job.waiting('the live backlog to drain');
      show();
      await sleep(WAIT_POLL_MS);
    }
    job.running();
    const page = await reads.replayPage({ request, cursor: job.cursor, limit: PAGE_ROWS });
    await runPage(lanesOf(page.rows));
    job.advance(page.next);
    show();
    if (!page.next) break;
    pagesThisRun += 1;
    if (pagesThisRun >= PAGES_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof replayWorkflow>({ ...args, carry: job.carry() });
    }
  }
  job.completed();
  show();
  return { progress: job.progress(Date.now()) };
}

/** A page's rows as lanes: each user's events per destination, in the page's (the user's) order. */
function lanesOf(rows: readonly ReplayRow[]): Lane[] {
  const lanes = new Map<string, Lane>();
  for (const row of rows) {
    for (const destinationId of row.destinationIds) {
      const key = `${row.sourceId}\u0000${row.userKey}\u0000${destinationId}`;
      const lane = lanes.get(key) ?? { sourceId: row.sourceId, userKey: row.userKey, destinationId, items: [], retryAt: 0, settled: 0 };
      lane.items.push({ seq: row.ref, messageId: row.messageId, attempts: 0 });
      lanes.set(key, lane);
    }
  }
  return [...lanes.values()];
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
}

/** Runs `run` over `items`, at most `limit` at once. */
async function inParallel<T>(items: readonly T[], limit: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next];
      next += 1;
      if (item !== undefined) await run(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

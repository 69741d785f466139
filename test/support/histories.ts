/**
 * The recorded workflow histories in test/fixtures/histories: recordHistories.test.ts writes them,
 * determinism.test.ts replays them against the current workflow code. One file per scenario, holding
 * every run of Ferry's workflows that the scenario produced.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { History } from '@temporalio/common/lib/proto-utils';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';

export const HISTORIES_DIR = path.resolve(__dirname, '..', 'fixtures', 'histories');

export interface RecordedRun {
  /** Replay needs it: histories do not carry their workflow id, and Ferry's workflows read theirs. */
  readonly workflowId: string;
  readonly runId: string;
  readonly workflowType: string;
  /** The history in Temporal's JSON form, as `temporal workflow show --output json` prints it. */
  readonly history: unknown;
}

export interface HistoryFixture {
  readonly scenario: string;
  /** What the scenario drove, for whoever reads the file or records it again. */
  readonly description: string;
  readonly runs: readonly RecordedRun[];
}

export function readHistoryFixtures(): HistoryFixture[] {
  return fs
    .readdirSync(HISTORIES_DIR)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => JSON.parse(fs.readFileSync(path.join(HISTORIES_DIR, file), 'utf8')) as HistoryFixture);
}

/** Writes test/fixtures/histories/<scenario>.json, replacing an earlier recording of the scenario. */
export function writeHistoryFixture(fixture: HistoryFixture): void {
  // One event per line: a re-recording's diff stays readable, at under two thirds of an indented file's size.
  const json = (value: unknown) => JSON.stringify(value);
  const runs = fixture.runs.map(({ history, ...run }) => {
    const fields = Object.entries(run).map(([key, value]) => `      ${json(key)}: ${json(value)},`);
    const events = ((history as { events?: unknown[] }).events ?? []).map((event) => `        ${json(event)}`);
    return `    {\n${fields.join('\n')}\n      "history": { "events": [\n${events.join(',\n')}\n      ] }\n    }`;
  });
  const text = `{\n  "scenario": ${json(fixture.scenario)},\n  "description": ${json(fixture.description)},\n  "runs": [\n${runs.join(',\n')}\n  ]\n}\n`;
  fs.mkdirSync(HISTORIES_DIR, { recursive: true });
  fs.writeFileSync(path.join(HISTORIES_DIR, `${fixture.scenario}.json`), text);
}

/**
 * Temporal's JSON form of a history, converted as the SDK's historyToJSON and historyFromJSON do, but
 * with the protobufjs that @temporalio/proto itself loads. The lockfile holds two copies of protobufjs 8
 * (@temporalio/common's and @temporalio/proto's, because @grpc/proto-loader's protobufjs 7 sits at the
 * top), so the SDK's functions fail with "type must be a Type": protojson's instanceof check sees a Type
 * of the other copy. That includes Worker.runReplayHistories given a history in JSON, so replay gets
 * the decoded history instead.
 */
interface Protojson {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
}
const protojson = createRequire(require.resolve('@temporalio/proto'))('protobufjs/ext/protojson') as Protojson;
const historyType = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType('temporal.api.history.v1.History');

function historyToJSON(history: History): unknown {
  return protojson.toJson(historyType, proto.temporal.api.history.v1.History.fromObject(history));
}

/** The run's history as protobuf objects, for Worker.runReplayHistories. */
export function historyOf(run: RecordedRun): History {
  return protojson.fromJson(historyType, run.history, { ignoreUnknownFields: true }) as History;
}

/**
 * Every run of `workflowId` (continued-as-new ones, and new executions after one finished), oldest
 * first. All must be closed: a run still open would be recorded mid-way, at whatever point it was.
 */
export async function recordRuns(client: Client, workflowId: string): Promise<RecordedRun[]> {
  const found: Array<{ runId: string; type: string; startTime: Date; status: string }> = [];
  for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    found.push({ runId: wf.runId, type: wf.type, startTime: wf.startTime, status: wf.status.name });
  }
  if (found.length === 0) throw new Error(`no runs of ${workflowId} are visible`);
  const open = found.filter((r) => r.status === 'RUNNING');
  if (open.length > 0) throw new Error(`${workflowId} has a run still open (${open.map((r) => r.runId).join(', ')}): let it finish or terminate it first`);
  found.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
  const runs: RecordedRun[] = [];
  for (const { runId, type } of found) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    runs.push({ workflowId, runId, workflowType: type, history: historyToJSON(history) });
  }
  return runs;
}

/**
 * The pipeline workflow's messages, defined once and imported by the relay (which sends them), the
 * admin tools and tests (which query them).
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { LaneSnapshot } from './state';

/**
 * A reference to one logged event: where it is in the log and what an operator may see of it
 * (never its properties). The event itself stays in the log; the delivery step reads it from there.
 */
export interface LogRef {
  /** The writing transaction's id (xid8 as text): with seq, the row's place in the relay order. */
  readonly xid: string;
  readonly seq: number;
  readonly messageId: string;
  readonly type: string;
  /** A track's event name, for the operator's view of a lane's head (properties never leave the log). */
  readonly event?: string;
  /** When the log stored it, epoch ms. */
  readonly loggedAt: number;
  /** Index into the signal's `routes`: the destinations the gateway routed it to. */
  readonly route: number;
}

/** A user's new log rows, in log order. Routes are listed once per signal, as most events share one. */
export interface LogSignalInput {
  readonly refs: readonly LogRef[];
  readonly routes: ReadonlyArray<readonly string[]>;
}

export const logSignal = defineSignal<[LogSignalInput]>('ferry.log');

/** Each lane's depth, head event, attempts and last error, for operators. */
export const lanesQuery = defineQuery<LaneSnapshot[]>('ferry.lanes');

export const PIPELINE_WORKFLOW_TYPE = 'pipelineWorkflow';

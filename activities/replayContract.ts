/**
 * The contract between the replay workflow and the activities that read for it: what a job asks for,
 * and the pages it gets back. Only references cross it; the delivery step reads each event itself.
 * Workflows import this file, so it must stay free of runtime imports.
 */
import type { DeliverStepInput, DeliverStepResult, DeliveryFailureDetails } from './contract';

/** A replay of a range of the log, as an operator asks for it (all times epoch ms). */
export interface ReplayRequest {
  readonly kind: 'replay';
  readonly sourceId: string;
  /** Where to send: one destination, or every destination of the source (resolved when the job starts). */
  readonly destinationIds: readonly string[];
  readonly userKey?: string;
  /** From (inclusive) and to (exclusive), by when the log stored each event. */
  readonly from: number;
  readonly to: number;
}

/** A re-drive of a destination's dead letters that were not re-driven yet. */
export interface RedriveRequest {
  readonly kind: 'redrive';
  readonly destinationId: string;
  /** Only one source's dead letters; all sources that have this destination id when unset. */
  readonly sourceId?: string;
  /** Dead letters aborted at or after this time, epoch ms. */
  readonly since?: number;
}

/** One call's lanes: each is a delivery step of its own (one user, one destination), run side by side. */
export interface ReplayLanesInput {
  readonly kind: 'replay' | 'redrive';
  readonly lanes: ReadonlyArray<DeliverStepInput>;
}

/** How one lane's step ended: its results (maybe paused), or the destination's retryable failure. */
export type ReplayLaneOutcome = { readonly step: DeliverStepResult } | { readonly failure: DeliveryFailureDetails };

/** Where a job stands in its source: a log position, or the last dead letter's id. */
export type ReplayCursor = { readonly xid: string; readonly seq: number } | { readonly deadLetterId: number };

/** One event of a job's page: its reference, its user, and the destinations it goes to. */
export interface ReplayRow {
  /** The log sequence number, or the dead letter's id. */
  readonly ref: number;
  readonly sourceId: string;
  readonly messageId: string;
  readonly userKey: string;
  readonly destinationIds: readonly string[];
}

export interface ReplayPage {
  readonly rows: readonly ReplayRow[];
  /** Where the next page starts; absent when this page was the last. */
  readonly next?: ReplayCursor;
}

/** What a dry run reports, and what a job counts before it sends. */
export interface ReplayPlan {
  /** Deliveries in all: events times the destinations each goes to. */
  readonly deliveries: number;
  readonly events: number;
  /** Per user and destination, most first; at most `limit` lines. */
  readonly lines: ReadonlyArray<{ readonly userKey: string; readonly destinationId: string; readonly events: number }>;
  /** Whether lines were left off. */
  readonly truncated: boolean;
}

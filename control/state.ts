/**
 * The pipeline's control state as the supervisor decided it: the mode (normal, or degraded: store but
 * do not forward) and each destination's state. Read by relays, delivery steps and gateways.
 */
import type { Pool } from 'pg';

export const PIPELINE_MODES = { normal: 'normal', degraded: 'degraded' } as const;
export type PipelineMode = (typeof PIPELINE_MODES)[keyof typeof PIPELINE_MODES];

export const DESTINATION_STATES = { active: 'active', paused: 'paused', probing: 'probing' } as const;
export type DestinationState = (typeof DESTINATION_STATES)[keyof typeof DESTINATION_STATES];

/**
 * The signal that wakes a pipeline workflow's parked lanes (the supervisor's wake activity sends it by
 * name; workflows/supervisorDefinitions.ts defines it for the workflow).
 */
export const RESUME_LANES_SIGNAL = 'ferry.resumeLanes';

export interface ControlState {
  readonly mode: PipelineMode;
  readonly modeReason?: string;
  /** Destinations that are not active, by id. */
  readonly destinations: ReadonlyMap<string, { readonly state: DestinationState; readonly reason?: string }>;
}

export const NORMAL_CONTROL: ControlState = { mode: PIPELINE_MODES.normal, destinations: new Map() };

/** The control state every worker obeys: an operator's override where there is one, else the supervisor's decision. */
export async function readControl(pool: Pool): Promise<ControlState> {
  const [mode, destinations] = await Promise.all([
    pool.query<{ mode: PipelineMode; reason: string | null }>(
      'SELECT COALESCE(operator_mode, mode) AS mode, CASE WHEN operator_mode IS NULL THEN reason ELSE operator_reason END AS reason FROM pipeline_control',
    ),
    pool.query<{ destination_id: string; state: DestinationState; reason: string | null }>(
      `SELECT destination_id, COALESCE(operator_state, state) AS state,
              CASE WHEN operator_state IS NULL THEN reason ELSE operator_reason END AS reason
         FROM destination_control WHERE COALESCE(operator_state, state) <> 'active'`,
    ),
  ]);
  const row = mode.rows[0];
  return {
    mode: row?.mode ?? PIPELINE_MODES.normal,
    ...(row?.reason ? { modeReason: row.reason } : {}),
    destinations: new Map(destinations.rows.map((r) => [r.destination_id, { state: r.state, ...(r.reason ? { reason: r.reason } : {}) }])),
  };
}

/** An operator's command, in effect at once: the override it writes, and the number the supervisor acknowledges. */
export async function writeOverride(
  pool: Pool,
  command: { readonly mode: PipelineMode; readonly reason?: string } | { readonly destinationIds: readonly string[]; readonly state: 'active' | 'paused'; readonly reason?: string },
): Promise<number> {
  const { rows } = await pool.query<{ seq: string }>("SELECT nextval('operator_command_seq')::text AS seq");
  const seq = Number(rows[0]!.seq);
  if ('mode' in command) {
    await pool.query('UPDATE pipeline_control SET operator_mode = $1, operator_reason = $2, operator_seq = $3', [command.mode, command.reason ?? null, seq]);
  } else {
    await pool.query(
      `INSERT INTO destination_control (destination_id, operator_state, operator_reason, operator_seq)
       SELECT unnest($1::text[]), $2, $3, $4
       ON CONFLICT (destination_id) DO UPDATE SET operator_state = $2, operator_reason = $3, operator_seq = $4`,
      [command.destinationIds, command.state, command.reason ?? null, seq],
    );
  }
  return seq;
}

/**
 * The control state, re-read every `refreshMs`: a pause reaches every worker within that long. Until
 * the first read, and while the database cannot be read, the last known state holds.
 */
export class ControlCache {
  private state: ControlState = NORMAL_CONTROL;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly pool: Pool,
    private readonly refreshMs = 1_000,
  ) {}

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  get current(): ControlState {
    return this.state;
  }

  /** Whether a delivery to this destination may start now; `probing` lets the supervisor's probes through. */
  mayDeliver(destinationId: string): { ok: true } | { ok: false; reason: string } {
    if (this.state.mode === PIPELINE_MODES.degraded) return { ok: false, reason: `the pipeline is in degraded mode${this.state.modeReason ? ` (${this.state.modeReason})` : ''}` };
    const destination = this.state.destinations.get(destinationId);
    if (destination?.state === DESTINATION_STATES.paused) return { ok: false, reason: `destination ${destinationId} is paused${destination.reason ? ` (${destination.reason})` : ''}` };
    return { ok: true };
  }

  /**
   * mayDeliver on a fresh read: the cached state may be up to a refresh old, and a lane must not park
   * on a pause that has already been lifted (the wake that lifted it would have missed the lane).
   */
  async confirm(destinationId: string): Promise<{ ok: true } | { ok: false; reason: string }> {
    await this.refresh();
    return this.mayDeliver(destinationId);
  }

  async refresh(): Promise<void> {
    try {
      this.state = await readControl(this.pool);
    } catch {
      // Keep the last known state; the next refresh tries again.
    }
  }
}

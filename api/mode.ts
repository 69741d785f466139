/**
 * The pipeline's operating mode as /health reports it, and the destinations that are not active. The
 * supervisor decides both and writes them to the control tables; the gateway reads them from there
 * (controlModeSource), cached so that /health stays cheap.
 */
import { NORMAL_CONTROL, PIPELINE_MODES, type ControlState, type DestinationState } from '../control/state';

export const GatewayMode = PIPELINE_MODES;
export type GatewayMode = (typeof GatewayMode)[keyof typeof GatewayMode];

/** A destination the supervisor or an operator stopped: `paused`, or `probing` its way back. */
export interface PausedDestination {
  readonly id: string;
  readonly state: Exclude<DestinationState, 'active'>;
  readonly reason?: string;
}

/** Where the gateway learns its current mode; asked on every /health request, so it should be cheap. */
export interface ModeSource {
  current(): GatewayMode | Promise<GatewayMode>;
  /** The destinations that are not active, by id. @default none */
  pausedDestinations?(): readonly PausedDestination[] | Promise<readonly PausedDestination[]>;
}

/** The mode source the gateway uses when none is given. */
export const ALWAYS_NORMAL: ModeSource = { current: () => GatewayMode.normal, pausedDestinations: () => [] };

export interface ControlModeSourceOptions {
  /** A state read this recently is answered without reading again. @default 1000 */
  readonly maxAgeMs?: number;
  /** How long /health waits for a read before answering with the last known state. @default 1000 */
  readonly timeoutMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * A mode source over the control tables (`read` is `() => readControl(pool)`): at most one read per
 * `maxAgeMs`, shared by concurrent requests. While the database cannot be read, the last known state
 * holds (normal, before the first read): /health reports the database itself.
 */
export function controlModeSource(read: () => Promise<ControlState>, { maxAgeMs = 1_000, timeoutMs = 1_000, now = Date.now }: ControlModeSourceOptions = {}): ModeSource {
  let state: ControlState = NORMAL_CONTROL;
  let readAt = Number.NEGATIVE_INFINITY;
  let reading: Promise<ControlState> | undefined;

  const latest = (): Promise<ControlState> | ControlState => {
    if (now() - readAt < maxAgeMs) return state;
    reading ??= read()
      .then(
        (fresh) => (state = fresh),
        () => state,
      )
      .finally(() => {
        readAt = now();
        reading = undefined;
      });
    return withTimeout(reading, timeoutMs, () => state);
  };

  return {
    current: async () => (await latest()).mode,
    pausedDestinations: async () =>
      [...(await latest()).destinations]
        .flatMap(([id, d]): PausedDestination[] => (d.state === 'active' ? [] : [{ id, state: d.state, ...(d.reason ? { reason: d.reason } : {}) }]))
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
  };
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, fallback: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback()), timeoutMs);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

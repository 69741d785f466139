/**
 * The gateway's operating mode as /health reports it. A supervisor that watches Temporal and the
 * workers (not built yet) will plug in here; until then the gateway is always in normal mode.
 */

export const GatewayMode = {
  normal: 'normal',
  /** Events are still accepted durably, but delivery is known to lag or part of the stack is impaired. */
  degraded: 'degraded',
} as const;
export type GatewayMode = (typeof GatewayMode)[keyof typeof GatewayMode];

/** Where the gateway learns its current mode; asked on every /health request, so it should be cheap. */
export interface ModeSource {
  current(): GatewayMode | Promise<GatewayMode>;
}

/** The mode source the gateway uses when none is given. */
export const ALWAYS_NORMAL: ModeSource = { current: () => GatewayMode.normal };

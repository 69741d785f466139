import { z } from 'zod';
import { optionalHttpUrl, requiredText } from '../fields/config';
import { eventFilterFields } from '../fields/eventFilter';

/** RudderStack's GA4 destination config (cloud mode, web data streams), plus a base URL override. */
export const ga4ConfigSchema = z.object({
  /** Measurement Protocol API secret of the data stream. */
  apiSecret: requiredText('apiSecret'),
  /** The web data stream's measurement id, e.g. G-ABC123XYZ. */
  measurementId: requiredText('measurementId').regex(/^G-[A-Z0-9]+$/, 'measurementId must look like G-XXXXXXXXXX'),
  /** Only gtag (web) streams; firebase app streams need an app_instance_id no event spec field carries. @default gtag */
  typesOfClient: z.literal('gtag', { error: 'typesOfClient: only "gtag" (web data streams) is supported' }).default('gtag'),
  /** @default https://www.google-analytics.com */
  baseUrl: optionalHttpUrl('baseUrl'),
  /** Send to the validation server (/debug/mp/collect), which checks events but records none. @default false */
  debugMode: z.boolean({ error: 'debugMode must be true or false' }).default(false),
  /**
   * client_id when the event has no anonymousId: `rudderId` (stable per user) or `none`, which aborts
   * such events instead. @default rudderId
   */
  clientIdFallback: z.enum(['rudderId', 'none'], { error: 'clientIdFallback must be "rudderId" or "none"' }).default('rudderId'),
  ...eventFilterFields,
});

export type Ga4Config = z.infer<typeof ga4ConfigSchema>;

/** GA4 Measurement Protocol request body (POST /mp/collect?measurement_id=&api_secret=), as Ferry sends it. */

export type Ga4ParamValue = string | number;

export interface Ga4Item {
  [param: string]: Ga4ParamValue;
}

export interface Ga4Event {
  name: string;
  params?: Record<string, Ga4ParamValue | Ga4Item[]>;
}

export interface Ga4UserProperty {
  value: Ga4ParamValue;
}

export interface Ga4MeasurementBody {
  client_id: string;
  user_id?: string;
  /** Epoch microseconds; GA4 drops events more than 72 hours old (Ferry aborts them first). */
  timestamp_micros: number;
  user_properties?: Record<string, Ga4UserProperty>;
  events: Ga4Event[];
}

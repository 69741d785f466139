/**
 * Amplitude's HTTP V2 API request (POST /2/httpapi), and the JSON carried by the Group Identify and User
 * Mapping APIs' form fields, as Ferry sends them.
 */

/** One event of the HTTP V2 API; `user_id` or `device_id` is required. */
export interface AmplitudeEvent {
  event_type: string;
  user_id?: string;
  device_id?: string;
  /** Epoch milliseconds. */
  time: number;
  /** Amplitude drops an event whose insert_id it has seen for the same user or device in the last 7 days. */
  insert_id: string;
  event_properties?: Record<string, unknown>;
  user_properties?: Record<string, unknown>;
  groups?: Record<string, string>;
  app_version?: string;
  platform?: string;
  os_name?: string;
  os_version?: string;
  device_brand?: string;
  device_manufacturer?: string;
  device_model?: string;
  carrier?: string;
  country?: string;
  region?: string;
  city?: string;
  dma?: string;
  language?: string;
  location_lat?: number;
  location_lng?: number;
  ip?: string;
  idfa?: string;
  idfv?: string;
  adid?: string;
  /** Session start in epoch ms; events without one are out of session. */
  session_id?: number;
  price?: number;
  quantity?: number;
  revenue?: number;
  productId?: string;
  revenueType?: string;
}

/** The HTTP V2 body as the transform builds it: `api_key` is added when it is sent (see authorizeAmplitude). */
export interface AmplitudeHttpApiBody {
  events: AmplitudeEvent[];
  options?: {
    /** Amplitude rejects ids shorter than 5 characters unless told otherwise. */
    min_id_length?: number;
  };
}

/** One entry of the User Mapping API's `mapping` field: `user_id` is merged into `global_user_id`. */
export interface AmplitudeUserMapping {
  user_id: string;
  global_user_id: string;
}

/** One entry of the Group Identify API's `identification` field: sets the properties of one group. */
export interface AmplitudeGroupIdentification {
  group_type: string;
  group_value: string;
  group_properties: Record<string, unknown>;
}

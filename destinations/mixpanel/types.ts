/** Mixpanel's ingestion API bodies (/import, /engage, /groups), as Ferry sends them: JSON arrays of these. */

export interface MixpanelEventProperties {
  /** Mixpanel requires it on /import: epoch milliseconds. */
  time?: number;
  distinct_id?: string;
  /** Dedup key: at most 36 letters, digits or dashes. */
  $insert_id?: string;
  token: string;
  $device_id?: string;
  $user_id?: string;
  /** `$merge` only: the ids to merge into one user. */
  $distinct_ids?: string[];
  [property: string]: unknown;
}

export interface MixpanelEvent {
  event: string;
  properties: MixpanelEventProperties;
}

/** One user profile update (/engage). */
export interface MixpanelProfileUpdate {
  $token: string;
  $distinct_id: string;
  /**
   * The end user's IP, for Mixpanel to geolocate the profile from; left out when unknown, and the
   * request then asks for no geolocation (`ip=0`) rather than Ferry's own address.
   */
  $ip?: string;
  $set?: Record<string, unknown>;
  $union?: Record<string, unknown[]>;
}

/** One group profile update (/groups). */
export interface MixpanelGroupUpdate {
  $token: string;
  $group_key: string;
  $group_id: string;
  $set: Record<string, unknown>;
}

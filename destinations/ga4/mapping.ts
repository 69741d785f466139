/** How RudderStack's event spec maps onto the GA4 Measurement Protocol, and GA4's documented limits, as data. */

export const GA4_DEFAULT_BASE_URL = 'https://www.google-analytics.com';
export const GA4_PATHS = { collect: '/mp/collect', validate: '/debug/mp/collect' } as const;

export const GA4_LIMITS = {
  /**
   * timestamp_micros: "Events can be backdated up to 3 calendar days based on the property's timezone"
   * (https://developers.google.com/analytics/devguides/collection/protocol/ga4/reference), "up to 72
   * hours" on the sending-events page; 72 hours is the bound that holds in every timezone.
   */
  maxEventAgeMs: 72 * 3_600_000,
  eventNameLength: 40,
  paramNameLength: 40,
  paramValueLength: 100,
  paramsPerEvent: 25,
  userPropertyNameLength: 24,
  userPropertyValueLength: 36,
  userProperties: 25,
} as const;

/**
 * Parameters GA4 allows longer values for. From third-party GA4 guides: Google's Measurement Protocol
 * pages state a flat 100 characters, so these may be cut or dropped by GA4.
 */
export const PARAM_VALUE_LENGTH: Readonly<Record<string, number>> = { page_title: 300, page_referrer: 420, page_location: 1000 };

/** Event names only Google's own SDKs may send. */
export const RESERVED_EVENT_NAMES: ReadonlySet<string> = new Set([
  'ad_activeview', 'ad_click', 'ad_exposure', 'ad_impression', 'ad_query', 'adunit_exposure', 'app_clear_data',
  'app_exception', 'app_install', 'app_remove', 'app_store_refund', 'app_store_subscription_cancel',
  'app_store_subscription_convert', 'app_store_subscription_renew', 'app_update', 'app_upgrade', 'dynamic_link_app_open',
  'dynamic_link_app_update', 'dynamic_link_first_open', 'error', 'first_open', 'first_visit', 'in_app_purchase',
  'notification_dismiss', 'notification_foreground', 'notification_open', 'notification_receive', 'os_update',
  'screen_view', 'session_start', 'user_engagement',
]);

/** Prefixes reserved for event, parameter and user property names. */
export const RESERVED_NAME_PREFIXES: readonly string[] = ['_', 'firebase_', 'ga_', 'google_', 'gtag.'];

export const RESERVED_USER_PROPERTY_NAMES: ReadonlySet<string> = new Set([
  'first_open_time', 'first_visit_time', 'last_deep_link_referrer', 'user_id', 'first_open_after_install',
]);

/** Google's terms forbid sending personal data to GA; these traits never become user properties. */
export const PII_TRAITS: ReadonlySet<string> = new Set([
  'email', 'phone', 'name', 'firstName', 'firstname', 'first_name', 'lastName', 'lastname', 'last_name', 'username',
  'userName', 'address', 'birthday', 'ip',
]);

/** Non-track message types and the GA4 event each becomes. */
export const MESSAGE_EVENT_NAMES = { page: 'page_view', group: 'join_group' } as const;

/** page_view parameters: from the page's properties first, then the browser context. */
export const PAGE_PARAMS: ReadonlyArray<{ readonly to: string; readonly property: string; readonly context: readonly string[] }> = [
  { to: 'page_location', property: 'url', context: ['context', 'page', 'url'] },
  { to: 'page_title', property: 'title', context: ['context', 'page', 'title'] },
  { to: 'page_referrer', property: 'referrer', context: ['context', 'page', 'referrer'] },
];

/** RudderStack's e-commerce spec events → GA4 recommended events. Other track events are snake_cased. */
export const RECOMMENDED_EVENTS: Readonly<Record<string, string>> = {
  'Products Searched': 'search',
  'Product Searched': 'search',
  'Product List Viewed': 'view_item_list',
  'Product Clicked': 'select_item',
  'Product Viewed': 'view_item',
  'Product Added': 'add_to_cart',
  'Product Removed': 'remove_from_cart',
  'Cart Viewed': 'view_cart',
  'Checkout Started': 'begin_checkout',
  'Payment Info Entered': 'add_payment_info',
  'Order Completed': 'purchase',
  'Order Refunded': 'refund',
  'Product Added to Wishlist': 'add_to_wishlist',
  'Product Shared': 'share',
  'Promotion Viewed': 'view_promotion',
  'Promotion Clicked': 'select_promotion',
};

/** Recommended events about one product, whose root properties describe the single item. */
export const SINGLE_ITEM_EVENTS: ReadonlySet<string> = new Set(['select_item', 'view_item', 'add_to_cart', 'remove_from_cart', 'add_to_wishlist', 'share']);

/** Spec property → GA4 parameter of recommended events. */
export const RECOMMENDED_PARAM_NAMES: Readonly<Record<string, string>> = {
  order_id: 'transaction_id',
  query: 'search_term',
  list_id: 'item_list_id',
  currency: 'currency',
  coupon: 'coupon',
  shipping: 'shipping',
  tax: 'tax',
  promotion_id: 'promotion_id',
  creative: 'creative_name',
};

/** Where a recommended event's monetary `value` comes from, first present wins. */
export const VALUE_PROPERTIES: readonly string[] = ['value', 'revenue', 'total'];

/** Spec product fields → GA4 item fields; the first source with a value wins. */
export const ITEM_FIELDS: ReadonlyArray<{ readonly to: string; readonly from: readonly string[] }> = [
  { to: 'item_id', from: ['product_id', 'sku', 'id'] },
  { to: 'item_name', from: ['name'] },
  { to: 'item_brand', from: ['brand'] },
  { to: 'item_category', from: ['category'] },
  { to: 'item_variant', from: ['variant'] },
  { to: 'price', from: ['price'] },
  { to: 'quantity', from: ['quantity'] },
  { to: 'coupon', from: ['coupon'] },
  { to: 'index', from: ['position'] },
];

import { z } from 'zod';
import { optionalHttpUrl, optionalText, requiredText } from '../fields/config';
import { eventFilterFields } from '../fields/eventFilter';

/** RudderStack's MP (Mixpanel) destination config, cloud mode, plus a base URL override. */
export const mixpanelConfigSchema = z
  .object({
    /** The Mixpanel project token. */
    token: requiredText('token'),
    /** Project API secret: authenticates /import and allows `$merge` (identity merge). */
    apiSecret: optionalText('apiSecret'),
    /** Service account for /import, preferred over apiSecret; needs serviceAccountSecret and projectId too. */
    serviceAccountUserName: optionalText('serviceAccountUserName'),
    serviceAccountSecret: optionalText('serviceAccountSecret'),
    projectId: optionalText('projectId'),
    /** Picks Mixpanel's US, EU or India hosts. @default us */
    dataResidency: z.enum(['us', 'eu', 'in'], { error: 'dataResidency must be "us", "eu" or "in"' }).default('us'),
    /** Overrides the host chosen by dataResidency. @default https://api.mixpanel.com */
    baseUrl: optionalHttpUrl('baseUrl'),
    /** The project's ID Merge system. @default original */
    identityMergeApi: z.enum(['original', 'simplified'], { error: 'identityMergeApi must be "original" or "simplified"' }).default('original'),
    /** Group key (set up in Mixpanel's project settings) that a group call's groupId belongs to. @default company */
    groupKey: requiredText('groupKey').default('company'),
    ...eventFilterFields,
  })
  .refine(
    (c) => [c.serviceAccountUserName, c.serviceAccountSecret, c.projectId].every((v) => v === undefined) ||
      [c.serviceAccountUserName, c.serviceAccountSecret, c.projectId].every((v) => v !== undefined),
    { message: 'serviceAccountUserName, serviceAccountSecret and projectId must be set together', path: ['serviceAccountUserName'] },
  );

export type MixpanelConfig = z.infer<typeof mixpanelConfigSchema>;

import { z } from 'zod';
import { optionalHttpUrl, optionalText, requiredText } from '../fields/config';
import { eventFilterFields } from '../fields/eventFilter';

/** RudderStack's AMPLITUDE destination config (cloud mode), plus endpoint overrides. */
export const amplitudeConfigSchema = z
  .object({
    /** The Amplitude project's API key. */
    apiKey: requiredText('apiKey'),
    /** Picks Amplitude's US or EU hosts. @default standard */
    residencyServer: z.enum(['standard', 'EU'], { error: 'residencyServer must be "standard" or "EU"' }).default('standard'),
    /** HTTP V2 API URL. @default https://api2.amplitude.com/2/httpapi (EU: https://api.eu.amplitude.com/2/httpapi) */
    endpoint: optionalHttpUrl('endpoint'),
    /** User Mapping (aliasing) API URL. @default https://api.amplitude.com/usermap (EU: https://api.eu.amplitude.com/usermap) */
    usermapEndpoint: optionalHttpUrl('usermapEndpoint'),
    /**
     * Group Identify API URL, where group properties go.
     * @default https://api2.amplitude.com/groupidentify (EU: https://api.eu.amplitude.com/groupidentify)
     */
    groupIdentifyEndpoint: optionalHttpUrl('groupIdentifyEndpoint'),
    /** Group trait holding the group type, e.g. `company_type`; set together with groupValueTrait. */
    groupTypeTrait: optionalText('groupTypeTrait'),
    /** Group trait holding the group name, e.g. `company_name`. */
    groupValueTrait: optionalText('groupValueTrait'),
    /** Group type used with the event's groupId when the group traits above are not configured. @default group */
    defaultGroupType: requiredText('defaultGroupType').default('group'),
    ...eventFilterFields,
  })
  .refine((c) => (c.groupTypeTrait === undefined) === (c.groupValueTrait === undefined), {
    message: 'groupTypeTrait and groupValueTrait must be set together',
    path: ['groupValueTrait'],
  });

export type AmplitudeConfig = z.infer<typeof amplitudeConfigSchema>;

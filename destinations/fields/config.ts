/**
 * zod field builders shared by destination config schemas. RudderStack's backend config stores an
 * unset optional text field as "", so blank optional values read as absent rather than invalid.
 */
import { z } from 'zod';

const blankAsUnset = (value: unknown): unknown => (typeof value === 'string' && value.trim() === '' ? undefined : value);

/** A required secret or id: present and not blank. */
export function requiredText(name: string) {
  return z.string({ error: `${name} is required` }).trim().min(1, `${name} must not be blank`);
}

export function optionalText(name: string) {
  return z.preprocess(blankAsUnset, z.string({ error: `${name} must be a string` }).trim().optional());
}

/** An optional http(s) endpoint override; every vendor URL must be replaceable, so tests never leave 127.0.0.1. */
export function optionalHttpUrl(name: string) {
  return z.preprocess(blankAsUnset, z.url({ protocol: /^https?$/, error: `${name} must be an http(s) URL` }).optional());
}

/**
 * The destination address policy's settings (activities/deliver/addressPolicy.ts): which hosts and
 * addresses destination requests may go to, beyond the default that denies link-local and
 * cloud-metadata addresses.
 */
import net from 'node:net';
import { z } from 'zod';

/** An allow or deny entry: an IP address, a CIDR block, or a host name (`*.` for its subdomains). */
export type PolicyEntry =
  | { readonly kind: 'cidr'; readonly address: string; readonly prefix: number; readonly family: 'ipv4' | 'ipv6' }
  | { readonly kind: 'name'; readonly name: string; readonly subdomains: boolean };

const HOST_NAME = /^(?:\*\.)?(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;

/** A host name as compared: lower case, without the root's trailing dot. */
export function normalizeHostName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** Parses one entry; undefined when it is none of the accepted shapes. */
export function parsePolicyEntry(text: string): PolicyEntry | undefined {
  const entry = text.trim();
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const version = net.isIP(address);
  if (version !== 0) {
    const max = version === 4 ? 32 : 128;
    const prefixText = slash === -1 ? String(max) : entry.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText)) return undefined;
    const prefix = Number(prefixText);
    if (prefix > max) return undefined;
    return { kind: 'cidr', address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
  }
  if (slash !== -1 || !HOST_NAME.test(entry)) return undefined;
  const subdomains = entry.startsWith('*.');
  return { kind: 'name', name: normalizeHostName(subdomains ? entry.slice(2) : entry), subdomains };
}

/** A comma-separated list of entries, each checked, e.g. `10.0.0.0/8, *.internal, 192.168.1.7`. */
const entryList = z
  .string()
  .transform((text) => text.split(',').map((e) => e.trim()).filter((e) => e !== ''))
  .superRefine((entries, ctx) => {
    for (const entry of entries) {
      if (!parsePolicyEntry(entry)) ctx.addIssue({ code: 'custom', message: `"${entry}" is not an IP address, a CIDR block or a host name` });
    }
  });

/** Spread into the worker's env schema. */
export const addressPolicyEnv = {
  /**
   * Entries allowed even where the deny list covers them (e.g. a link-local appliance you really
   * deliver to). An allowed name does not allow the addresses it resolves to. @default none
   */
  FERRY_DESTINATION_ALLOW: entryList.default([]),
  /**
   * Entries denied on top of the default (link-local and cloud-metadata addresses and names), e.g.
   * `10.0.0.0/8,172.16.0.0/12,192.168.0.0/16` to keep destinations off private networks. @default none
   */
  FERRY_DESTINATION_DENY: entryList.default([]),
};

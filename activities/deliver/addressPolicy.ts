/**
 * Which hosts and addresses Ferry may send destination requests to: the guard against server-side
 * request forgery through a destination URL (a webhook, a vendor endpoint override), a redirect, or a
 * DNS name that resolves somewhere it should not.
 *
 * By default only link-local and cloud-metadata addresses and names are denied: that is where an
 * instance's credentials live (the metadata services of AWS, GCP, Azure, Alibaba and others), and no
 * real destination is there. Loopback and private networks stay allowed, as local demos, tests and
 * in-cluster webhooks need them; operators who want them closed add them to the deny list.
 *
 * The checks run on the URL's host before connecting and again on every address DNS gives at connect
 * time (see HttpTransport), so a name that resolves to a denied address, and every redirect hop, is
 * refused before any byte is sent.
 */
import net from 'node:net';
import { normalizeHostName as normalizeName, parsePolicyEntry } from '../../config/addressPolicyEnv';
import { FerryError } from '../../errors/ferryError';

/** Where the default deny list comes from, as operators see it in refusals. */
export const DEFAULT_DENIED = {
  /** IPv4 link-local, where 169.254.169.254 (AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle metadata) lives. */
  '169.254.0.0/16': 'link-local (cloud metadata)',
  /** IPv6 link-local. */
  'fe80::/10': 'link-local',
  /** AWS's IPv6 metadata endpoint (Nitro). */
  'fd00:ec2::254/128': 'cloud metadata (AWS IPv6)',
  /** Alibaba Cloud's metadata endpoint. */
  '100.100.100.200/32': 'cloud metadata (Alibaba)',
  /** "This network": connecting to 0.0.0.0 reaches the host itself under another name. */
  '0.0.0.0/8': 'unspecified address',
  '::/128': 'unspecified address',
  'metadata.google.internal': 'cloud metadata (GCP)',
  'metadata.goog': 'cloud metadata (GCP)',
  'metadata': 'cloud metadata (GCP short name)',
  'instance-data': 'cloud metadata (AWS)',
  'instance-data.ec2.internal': 'cloud metadata (AWS)',
} as const;

export interface AddressPolicyOptions {
  /**
   * Entries (an IP address, a CIDR block, or a host name; `*.example.com` matches subdomains) that are
   * allowed even when the deny list covers them. An allowed name does not allow the addresses it
   * resolves to: those must pass on their own. @default none
   */
  readonly allow?: readonly string[];
  /** Entries denied on top of DEFAULT_DENIED. @default none */
  readonly deny?: readonly string[];
  /** Whether DEFAULT_DENIED applies. @default true */
  readonly defaultDeny?: boolean;
}

/** A send refused by the address policy; never retried, the event is dead-lettered with this message. */
export class DestinationDeniedError extends FerryError {
  constructor(
    message: string,
    readonly host: string,
    readonly address?: string,
  ) {
    super(message);
  }
}

interface Rules {
  readonly blocks: net.BlockList;
  /** Reasons by CIDR entry, for refusals that say why. */
  readonly blockReasons: ReadonlyArray<{ readonly list: net.BlockList; readonly reason: string }>;
  readonly names: ReadonlyMap<string, string>;
  readonly suffixes: ReadonlyArray<readonly [string, string]>;
}

function rulesOf(entries: ReadonlyArray<readonly [string, string]>): Rules {
  const blocks = new net.BlockList();
  const blockReasons: Array<{ list: net.BlockList; reason: string }> = [];
  const names = new Map<string, string>();
  const suffixes: Array<readonly [string, string]> = [];
  for (const [text, reason] of entries) {
    const entry = parsePolicyEntry(text);
    if (!entry) throw new Error(`address policy: "${text}" is not an IP address, a CIDR block or a host name`);
    if (entry.kind === 'cidr') {
      blocks.addSubnet(entry.address, entry.prefix, entry.family);
      const single = new net.BlockList();
      single.addSubnet(entry.address, entry.prefix, entry.family);
      blockReasons.push({ list: single, reason });
    } else if (entry.subdomains) {
      suffixes.push([`.${entry.name}`, reason]);
    } else {
      names.set(entry.name, reason);
    }
  }
  return { blocks, blockReasons, names, suffixes };
}

/** The address as a BlockList checks it: an IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 one. */
function canonical(address: string): { address: string; family: 'ipv4' | 'ipv6' } | undefined {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const version = net.isIP(bare);
  if (version === 4) return { address: bare, family: 'ipv4' };
  if (version !== 6) return undefined;
  const mapped = /^(?:0{0,4}:){0,5}:?ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped && net.isIPv4(mapped[1]!)) return { address: mapped[1]!, family: 'ipv4' };
  const hexMapped = /^(?:0{0,4}:){0,5}:?ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(bare);
  if (hexMapped) {
    const high = parseInt(hexMapped[1]!, 16);
    const low = parseInt(hexMapped[2]!, 16);
    return { address: `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`, family: 'ipv4' };
  }
  return { address: bare, family: 'ipv6' };
}

/** The verdict on one host or address: allowed, or denied with the reason. */
export type Verdict = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

const ALLOWED: Verdict = { allowed: true };

export class AddressPolicy {
  private readonly allowRules: Rules;
  private readonly denyRules: Rules;

  constructor({ allow = [], deny = [], defaultDeny = true }: AddressPolicyOptions = {}) {
    this.allowRules = rulesOf(allow.map((entry) => [entry, 'allowed']));
    const defaults = defaultDeny ? Object.entries(DEFAULT_DENIED) : [];
    this.denyRules = rulesOf([...defaults, ...deny.map((entry): [string, string] => [entry, 'on FERRY_DESTINATION_DENY'])]);
  }

  /** A URL's host, before connecting: a name by the name rules, an IP literal by the address rules. */
  checkHost(hostname: string): Verdict {
    if (canonical(hostname)) return this.checkAddress(hostname);
    const name = normalizeName(hostname);
    if (matchName(this.allowRules, name)) return ALLOWED;
    const reason = matchName(this.denyRules, name);
    return reason === undefined ? ALLOWED : { allowed: false, reason };
  }

  /** An address a connection would go to (a literal or what DNS gave). */
  checkAddress(address: string): Verdict {
    const ip = canonical(address);
    // Not an IP at all: nothing a socket connects to; refusing is the safe answer.
    if (!ip) return { allowed: false, reason: 'not an IP address' };
    if (this.allowRules.blocks.check(ip.address, ip.family)) return ALLOWED;
    if (!this.denyRules.blocks.check(ip.address, ip.family)) return ALLOWED;
    const reason = this.denyRules.blockReasons.find((r) => r.list.check(ip.address, ip.family))?.reason ?? 'denied';
    return { allowed: false, reason };
  }
}

function matchName(rules: Rules, name: string): string | undefined {
  const exact = rules.names.get(name);
  if (exact !== undefined) return exact;
  return rules.suffixes.find(([suffix]) => name.endsWith(suffix))?.[1];
}

/** The policy the worker uses unless FERRY_DESTINATION_ALLOW / _DENY say otherwise. */
export const DEFAULT_ADDRESS_POLICY = new AddressPolicy();

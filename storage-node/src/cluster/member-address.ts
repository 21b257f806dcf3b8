// A member's address as the Raft membership keeps it (opaque to the core): its client URL, which
// clients and the gateway use, and its cluster URL, which peers use for Raft and chunks.
import { z } from 'zod';

export interface MemberUrls {
  readonly clientUrl: string;
  readonly clusterUrl: string;
}

const httpOrigin = z.string().max(1024).refine((text) => {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === text;
  } catch {
    return false;
  }
}, 'an http(s) origin such as http://10.0.0.4:8081');

export const memberUrlsSchema = z.object({ clientUrl: httpOrigin, clusterUrl: httpOrigin });

export function encodeMemberAddress(urls: MemberUrls): string {
  return JSON.stringify({ clientUrl: urls.clientUrl, clusterUrl: urls.clusterUrl });
}

/** The URLs in a membership's address, or null when it is not one of ours (say, from a test). */
export function decodeMemberAddress(address: string): MemberUrls | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(address);
  } catch {
    return null;
  }
  const result = memberUrlsSchema.safeParse(parsed);
  return result.success ? result.data : null;
}

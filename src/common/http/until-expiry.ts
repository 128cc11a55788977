/**
 * A `Cache-Control` policy bounded by an expiry: `policy` itself when there is none; otherwise
 * `public, max-age=<seconds left>` (the policy's own max-age where that is shorter), without
 * `immutable`. For a stand-alone upload that asked for an expiry (`expires_in`): past it, it is
 * not delivered (and its files are swept), and a cache that kept it a year, immutable, would serve
 * it on without asking. An expiry already past gives `max-age=0`.
 */
export function untilExpiry(policy: string, expiresAt: Date | null, now = Date.now()): string {
  if (!expiresAt) return policy;
  const left = Math.max(0, Math.floor((expiresAt.getTime() - now) / 1000));
  const own = /(?:^|[\s,])max-age=(\d+)/i.exec(policy)?.[1];
  const maxAge = own === undefined ? left : Math.min(Number(own), left);
  return `public, max-age=${maxAge}`;
}

/**
 * Resolution rules an owner's `decide` can use. "First valid proposal for a version wins" is built into the
 * owner runtime (the expected-version check); `mergeCommuting` lets a stale proposal through when its change
 * touches none of the fields changed since the version it expected.
 */

/**
 * True when agent `a` outranks agent `b` in `order`, highest first (agents not in the list rank below all
 * listed ones). The order is the domain's: the reference fleet's is REFERENCE_PRIORITY in @accord/reference.
 */
export function outranks(a: string, b: string, order: readonly string[]): boolean {
  const rank = (agent: string) => {
    const i = order.indexOf(agent);
    return i === -1 ? order.length : i;
  };
  return rank(a) < rank(b);
}

/** Changes commute when they touch disjoint top-level fields. */
export function commutes(change: Record<string, unknown>, changedSince: Iterable<string>): boolean {
  const touched = new Set(changedSince);
  return Object.keys(change).every((k) => !touched.has(k));
}

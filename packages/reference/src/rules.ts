/**
 * The reference fleet's priority: risk over fulfillment over pricing over support. The owner runtime's
 * `outranks(a, b, order)` takes any order; this is the one the reference owners use.
 */
export const REFERENCE_PRIORITY = ['risk', 'fulfillment', 'pricing', 'support'] as const;

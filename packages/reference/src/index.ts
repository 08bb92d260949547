/**
 * @accord/reference: Accord's reference domains, built on the SDK the way a user's domain is: the
 * generated schema types and catalog, the feature views, the owners' priority order.
 */

export { COMMERCE_AGENTS } from './agents/commerce';
export { referenceCatalog } from './catalog';
export {
  DISCOUNT_ESCALATION_PERCENT,
  DISCOUNT_LIMIT_PERCENT,
  decideCustomer,
  decideOrder,
  decidePayment,
  decideStockItem,
  REFERENCE_OWNERS,
} from './owners';
export { REFERENCE_PRIORITY } from './rules';
export { type AuditResult, audit, type Contradiction, type ContradictionKind } from './scenario/auditor';
export { type AgentFigures, formatReport, measure, type Report, reportHtml } from './scenario/report';
export { generateTraffic, seeded, type TrafficOptions, type TrafficResult } from './scenario/traffic';
export type * from './schemas.generated';
export { EVENT_ENTITY_TYPES, SCHEMAS } from './schemas.generated';
export { COMMERCE_VIEWS } from './views';

/**
 * @accord/reference: Accord's reference domains, built on the SDK the way a user's domain is: the
 * generated schema types and catalog, the feature views, the owners' priority order.
 */
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
export type * from './schemas.generated';
export { EVENT_ENTITY_TYPES, SCHEMAS } from './schemas.generated';
export { COMMERCE_VIEWS } from './views';

import { defineCatalog } from '@accord/sdk';
import { EVENT_ENTITY_TYPES, SCHEMAS, type SchemaTypes } from './schemas.generated';

/**
 * The reference domains (commerce: orders, payments, stock, customers; logs: the log pipeline) as a
 * catalog: what publishers, serdes, owners and agents of the reference systems are given. A user's domain
 * is made the same way from its own generated file.
 */
export const referenceCatalog = defineCatalog<SchemaTypes>({
  schemas: SCHEMAS,
  entities: EVENT_ENTITY_TYPES,
});

export * from './canonical';
export * from './catalog';
export * from './codegen';
export * from './compatibility';
export * from './generate';
export * from './registry-client';
export * from './serde';
export type * from './types.generated';
export { SCHEMAS } from './types.generated';

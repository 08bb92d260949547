export * from './owner';
export * from './propose';
export * from './roles';
export * from './rules';

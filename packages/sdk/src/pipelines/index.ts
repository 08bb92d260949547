export * from './checkpoints';
export * from './errors';
export * from './operations';
export * from './pipeline';
export * from './positions';

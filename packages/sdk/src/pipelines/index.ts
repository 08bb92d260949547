export * from './checkpoints';
export * from './errors';
export * from './log-check';
export * from './operations';
export * from './pipeline';
export * from './positions';
export * from './rebind';
export * from './windows';

export * from './checkpoints';
export * from './control';
export * from './errors';
export * from './log-check';
export * from './pipeline';
export * from './positions';
export * from './windows';

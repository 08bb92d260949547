export * from './checkpoints';
export * from './errors';
export * from './pipeline';

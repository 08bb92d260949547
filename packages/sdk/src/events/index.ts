export * from './history';
export * from './publisher';
export * from './topics';
export * from './topics-as-code';

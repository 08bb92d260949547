export { pricing as default } from './commerce';

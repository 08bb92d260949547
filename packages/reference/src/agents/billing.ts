export { billing as default } from './commerce';

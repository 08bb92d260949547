export { personalization as default } from './commerce';

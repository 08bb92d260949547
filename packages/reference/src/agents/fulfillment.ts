export { fulfillment as default } from './commerce';

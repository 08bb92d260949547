export { inventory as default } from './commerce';

export { risk as default } from './commerce';

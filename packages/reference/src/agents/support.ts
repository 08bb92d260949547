export { support as default } from './commerce';

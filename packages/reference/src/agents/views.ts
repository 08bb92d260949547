// The feature views the commerce agents read (a manifest's `views:` module).
export { COMMERCE_VIEWS as views } from '../views';

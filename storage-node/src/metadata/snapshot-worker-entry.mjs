// A worker thread does not inherit the tsx loader of the node that starts it (Node 20), so the
// worker's entry registers tsx itself before it loads the TypeScript body.
import { register } from 'tsx/esm/api';

register();
await import('./snapshot-worker.ts');

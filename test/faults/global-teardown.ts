import type { Cluster } from './cluster';

/** Stops the cluster the global setup started: no broker of a fault run outlives it. */
export default async function globalTeardown(): Promise<void> {
  await (globalThis as { faultsCluster?: Cluster }).faultsCluster?.down();
}

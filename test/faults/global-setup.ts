import { type Cluster, startCluster } from './cluster';

/** One three-broker cluster for the whole fault run (see sharedCluster); the teardown stops it. */
export default async function globalSetup(): Promise<void> {
  process.stderr.write('\n[faults] starting a three-broker cluster for the fault suites\n');
  (globalThis as { faultsCluster?: Cluster }).faultsCluster = await startCluster();
}

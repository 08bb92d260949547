import { type Cluster, startCluster } from './cluster';

/**
 * One three-broker cluster for the whole fault run (see sharedCluster); the teardown stops it. When the
 * caller already started one (scripts/test-faults.sh: one cluster for both of its jest runs), its facts
 * are in ACCORD_FAULTS_CLUSTER: it is used, and left for the caller to stop.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.ACCORD_FAULTS_CLUSTER) {
    process.stderr.write('\n[faults] using the three-broker cluster of ACCORD_FAULTS_CLUSTER\n');
    return;
  }
  process.stderr.write('\n[faults] starting a three-broker cluster for the fault suites\n');
  (globalThis as { faultsCluster?: Cluster }).faultsCluster = await startCluster();
}

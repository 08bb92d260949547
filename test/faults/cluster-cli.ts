/**
 * The fault run's cluster from outside jest (scripts/test-faults.sh): `up` starts a three-broker cluster and
 * prints its facts (JSON) for ACCORD_FAULTS_CLUSTER; `down` stops the one that variable names. Both jest
 * runs of the fault suites then share one cluster instead of starting one each (~25 s apiece).
 * Run with Node 24 (it runs TypeScript as is): node test/faults/cluster-cli.ts up|down
 */
import { sharedCluster, startCluster } from './cluster.ts';

async function main(command: string | undefined): Promise<void> {
  if (command === 'up') {
    await startCluster();
    process.stdout.write(`${process.env.ACCORD_FAULTS_CLUSTER}\n`);
  } else if (command === 'down') {
    await sharedCluster().down();
  } else {
    process.stderr.write(
      'usage: node test/faults/cluster-cli.ts up|down (down needs ACCORD_FAULTS_CLUSTER)\n',
    );
    process.exit(2);
  }
}

main(process.argv[2]).catch((error: unknown) => {
  process.stderr.write(`cluster-cli: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});

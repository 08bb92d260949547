/**
 * The order owner of bench/decision-roundtrip.ts in its own process (`--owner-process`), as deployed: an
 * agent and its owner are separate services, each with its own event loop. Decides every proposal of
 * --topic ACCEPTED as the in-process owner does; prints `running` once started; stops on SIGTERM.
 *
 *   node bench/owner-member.ts --schema <schema> --topic <proposals topic> --group <group>
 */
import { parseArgs } from 'node:util';
import { referenceCatalog } from '@accord/reference';
import { createAccord, resolveConfig } from '@accord/sdk';

const { values } = parseArgs({
  options: { schema: { type: 'string' }, topic: { type: 'string' }, group: { type: 'string' } },
});
const config = resolveConfig();
const url = new URL(config.postgres.url);
url.username = 'accord_owner_order';
url.searchParams.set('options', `-c search_path=${values.schema}`);

async function main(): Promise<void> {
  const accord = createAccord({ catalog: referenceCatalog, databaseUrl: url.toString() });
  const owner = accord.owner({
    entityType: 'order',
    topic: String(values.topic),
    group: String(values.group),
    decide: ({ proposal, current }) => ({
      outcome: 'ACCEPTED',
      state: { ...current.state, ...proposal.change },
    }),
  });
  await owner.start();
  process.stdout.write('running\n');
  process.once('SIGTERM', () => {
    void owner
      .stop()
      .then(() => accord.close())
      .finally(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`owner-member: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});

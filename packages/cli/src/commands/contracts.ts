import { ContractStore, createPgPool, runGoldenCases, UsageError } from '@accord/sdk';
import { type Command, formatTable } from '../command';
import { loadStack } from '../stack';

export const contractsCommand: Command = {
  name: 'contracts',
  summary: 'list, show and test the semantic contracts (versioned business definitions)',
  usage: 'accord contracts list | show <name@version> | test [<name@version>] [--json]',
  help: `Semantic contracts live in the Postgres table contracts. Agents evaluate them through the SDK, owners
through SQL (accord_contract(name, version, input)) inside their transactions.

  list                  every contract version with its owner and description
  show <name@version>   the definition and the golden cases
  test [<name@version>] run every golden case through the SDK and through SQL; exit 1 on any mismatch

Options:
  --json   machine-readable output`,
  options: { json: { type: 'boolean' } },
  async run({ positionals, values, out, err }) {
    const [sub, ref] = positionals;
    const { config } = loadStack();
    const pool = createPgPool(config.postgres.url, { max: 2 });
    try {
      const store = new ContractStore(pool);
      if (sub === 'list') {
        const contracts = await store.list();
        if (values.json) out(JSON.stringify(contracts, null, 2));
        else {
          const rows = contracts.map((c) => ({
            contract: `${c.name}@${c.version}`,
            owner: c.owner,
            cases: String(c.goldenCases.length),
            description: c.description,
          }));
          for (const line of formatTable(rows, ['contract', 'owner', 'cases', 'description'])) out(line);
        }
        return 0;
      }
      if (sub === 'show') {
        if (!ref) throw new UsageError('missing <name@version>');
        const c = await store.get(ref);
        out(JSON.stringify(c, null, 2));
        return 0;
      }
      if (sub === 'test') {
        const results = await runGoldenCases(pool, ref);
        if (values.json) out(JSON.stringify(results, null, 2));
        else {
          const rows = results.map((r) => ({
            contract: r.contract,
            input: JSON.stringify(r.input),
            expected: String(r.expected),
            sdk: String(r.sdk),
            sql: String(r.sql),
            result: r.ok ? 'ok' : 'MISMATCH',
          }));
          for (const line of formatTable(rows, ['contract', 'input', 'expected', 'sdk', 'sql', 'result']))
            out(line);
        }
        const bad = results.filter((r) => !r.ok);
        if (bad.length) {
          err(
            `accord contracts: ${bad.length} golden case(s) failed: ${bad.map((b) => b.contract).join(', ')}`,
          );
          return 1;
        }
        if (!values.json) out(`${results.length} golden case(s) agree in the SDK and in SQL`);
        return 0;
      }
      throw new UsageError(
        `expected list, show or test, got ${sub ? `"${sub}"` : 'nothing'} (see: accord contracts --help)`,
      );
    } finally {
      await pool.end();
    }
  },
};

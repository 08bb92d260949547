import type { Command } from '../command';
import { formatTable } from '../command';
import { loadStack, stackStatus } from '../stack';
import { ENVIRONMENT } from './stack-environment';

export const statusCommand: Command = {
  name: 'status',
  summary: 'show each component of the stack with its address and health',
  usage: 'accord status [--json]',
  help: `Checks every component and prints its address, health and who manages it.
Exit code 0 when every component is healthy, 1 otherwise.

Options:
  --json    print the components as a JSON array

${ENVIRONMENT}`,
  options: { json: { type: 'boolean' } },
  async run({ values, out }) {
    const rows = await stackStatus(loadStack());
    if (values.json) {
      out(JSON.stringify(rows, null, 2));
    } else {
      const table = rows.map((r) => ({
        component: r.component,
        health: r.healthy ? 'up' : 'DOWN',
        address: r.address,
        managed: r.managedBy === 'accord' ? `accord${r.pid ? ` (pid ${r.pid})` : ''}` : 'external',
        detail: r.detail,
      }));
      for (const line of formatTable(table, ['component', 'health', 'address', 'managed', 'detail']))
        out(line);
    }
    return rows.every((r) => r.healthy) ? 0 : 1;
  },
};

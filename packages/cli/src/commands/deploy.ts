import { resolve } from 'node:path';
import { loadManifest, UsageError } from '@accord/sdk';
import { executeDeploy, planDeploy } from '../agents/deploy';
import { renderKubernetes } from '../agents/render';
import { runAgentReplica } from '../agents/run';
import { supervise } from '../agents/supervisor';
import { projectCatalog } from '../catalog';
import type { Command } from '../command';
import { withStackOps } from '../operator';
import { loadStack } from '../stack';
import { projectRoot } from '../stack/paths';

export const deployCommand: Command = {
  name: 'deploy',
  summary: 'deploy agents from their manifests (topics, schemas, group, role, replicas)',
  usage: 'accord deploy <manifest.yaml>... [--plan] [--render k8s --out <dir> [--image <image>]]',
  help: `Checks every manifest first (entry module, topics, event types and their schemas, features, contracts):
anything wrong is refused with its file, line or name, and nothing of any manifest is deployed. Then, per
agent: creates declared topics that are missing, registers the schemas of the events it emits, starts its
consumer group agent-<name> where the manifest says (once), creates its role accord_agent_<name> (reads
everything, writes only its own checkpoints), and runs its replicas under a local supervisor (restart with
backoff, logs in <state dir>/agents/<name>/, /healthz and /readyz per replica). The same manifest deployed
twice changes nothing; a changed one rolls the replicas one at a time, each finishing its batch and
checkpointing before it stops. See accord ps, accord logs, accord stop, accord pause.

Options:
  --plan            print what would change, change nothing
  --render k8s      write Kubernetes manifests instead (a Deployment and a ConfigMap per agent)
  --out <dir>       with --render: where to write them
  --image <image>   with --render: the image to run (default accord:latest, built from the Dockerfile)

Environment: ACCORD_AGENTS_DIR (default <state dir>/agents), and the stack's (KAFKA_BROKERS, DATABASE_URL, …)`,
  options: {
    plan: { type: 'boolean' },
    render: { type: 'string' },
    out: { type: 'string' },
    image: { type: 'string' },
  },
  async run({ positionals, values, out }) {
    if (positionals.length === 0) throw new UsageError('missing <manifest.yaml> (see: accord deploy --help)');
    const manifests = positionals.map((file) => loadManifest(resolve(file)));
    if (values.render !== undefined) {
      if (values.render !== 'k8s') throw new UsageError(`--render supports k8s, got "${values.render}"`);
      if (typeof values.out !== 'string') throw new UsageError('missing --out <dir> for --render k8s');
      const image = typeof values.image === 'string' ? values.image : 'accord:latest';
      for (const file of renderKubernetes(manifests, resolve(values.out), image)) out(`wrote ${file}`);
      return 0;
    }
    const { config } = loadStack();
    return withStackOps(async (ops) => {
      const plans = await planDeploy(manifests, {
        ops,
        config,
        catalog: projectCatalog(),
        root: projectRoot(),
      });
      if (values.plan) {
        for (const plan of plans) {
          if (plan.actions.length === 0) out(`${plan.manifest.name}: unchanged`);
          for (const action of plan.actions) out(`${plan.manifest.name}: would ${action.what}`);
        }
        return 0;
      }
      await executeDeploy(plans, out);
      for (const plan of plans) if (plan.actions.length === 0) out(`${plan.manifest.name}: unchanged`);
      return 0;
    });
  },
};

/** What the supervisor and Kubernetes run: one replica, or the supervisor of one agent. */
export const agentCommand: Command = {
  name: 'agent',
  summary: 'run one agent replica from its manifest (what deploy and Kubernetes start)',
  usage:
    'accord agent run <manifest.yaml> [--replica <n>] [--health-port <port>]  |  accord agent supervise <name>',
  help: `run        one replica: logs in as accord_agent_<name> (AGENT_DATABASE_URL, default DATABASE_URL with that
           user), serves /healthz and /readyz on --health-port (default 8080), logs JSON lines on stdout,
           stops cleanly on SIGTERM (finishes its batch, checkpoints, leaves the group)
supervise  the local supervisor of a deployed agent (started by accord deploy)`,
  options: { replica: { type: 'string' }, 'health-port': { type: 'string' } },
  async run({ positionals, values }) {
    const [sub, target] = positionals;
    if (sub === 'run') {
      if (!target) throw new UsageError('missing <manifest.yaml>');
      const port = Number(values['health-port'] ?? 8080);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new UsageError(`--health-port must be a TCP port, got "${values['health-port']}"`);
      // Once stopped cleanly, nothing of the replica may keep the process alive (a supervisor waits on it).
      process.exit(await runAgentReplica(resolve(target), Number(values.replica ?? 0), port));
    }
    if (sub === 'supervise') {
      if (!target) throw new UsageError('missing <name>');
      process.exit(await supervise(target));
    }
    throw new UsageError(`expected run or supervise, got ${sub ? `"${sub}"` : 'nothing'}`);
  },
};

import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import {
  type AgentDefinition,
  ConfigError,
  createAgent,
  currentOpenTelemetry,
  defineAgent,
  type FeatureView,
  loadManifest,
  runService,
} from '@accord/sdk';
import { projectCatalog } from '../catalog';

const load = createRequire(__filename);

/** The agent a manifest's entry module exports: `export default defineAgent(...)` or `export const agent`. */
function definitionOf(entryPath: string, entry: string): AgentDefinition {
  const mod = load(entryPath) as { default?: AgentDefinition; agent?: AgentDefinition };
  const definition = mod.default?.handle ? mod.default : mod.agent;
  if (!definition || typeof definition.handle !== 'function')
    throw new ConfigError(`${entry}: must export default defineAgent({...}) (or export const agent)`);
  return definition;
}

/** The feature views a manifest's `views:` module exports (`export const views = [...]`, or default). */
export function loadViews(viewsPath: string, views: string): FeatureView[] {
  const mod = load(viewsPath) as { views?: unknown; default?: unknown };
  const list = mod.views ?? mod.default;
  if (!Array.isArray(list))
    throw new ConfigError(`${views}: must export the feature views (export const views = [...])`);
  return list as FeatureView[];
}

/**
 * One replica of an agent, as the supervisor (or Kubernetes) runs it: the manifest is authoritative for
 * what it consumes, proposes, emits and reads; it logs in as accord_agent_<name>; it serves /healthz
 * (the process answers) and /readyz (the agent consumes: 503 while starting, stopping or paused, which
 * takes a paused replica out of a load balancer, not out of its group) on the health port.
 */
export async function runAgentReplica(
  manifestPath: string,
  replica: number,
  healthPort: number,
): Promise<number> {
  const manifest = loadManifest(manifestPath);
  // The manifest's environment, unless the process was given its own.
  for (const [name, value] of Object.entries(manifest.env)) process.env[name] ??= value;
  const definition = definitionOf(manifest.entryPath, manifest.entry);
  if (definition.name !== manifest.name)
    throw new ConfigError(
      `${manifest.file}: name ${manifest.name}, but ${manifest.entry} defines agent ${definition.name}`,
    );
  const views =
    manifest.viewsPath && manifest.views ? loadViews(manifest.viewsPath, manifest.views) : undefined;
  const agentDefinition = defineAgent({
    ...definition,
    consumes: manifest.consumes.map((c) => c.topic),
    proposes: manifest.proposes,
    emits: manifest.emits,
    reads: manifest.reads,
    freshness: manifest.freshness,
  });
  return runService(
    {
      name: `agent-${manifest.name}`,
      help: '',
      options: {},
      role: `accord_agent_${manifest.name}`,
      databaseUrlVariable: 'AGENT_DATABASE_URL',
      catalog: projectCatalog(),
      async start({ accord }) {
        const agent = createAgent(accord, agentDefinition, {
          ...(views ? { views } : {}),
          // Redis key prefix of the feature values it reads (a shared Redis, or tests); default none.
          ...(process.env.ACCORD_FEATURE_PREFIX ? { featurePrefix: process.env.ACCORD_FEATURE_PREFIX } : {}),
          proposalsTopic: (entityType) =>
            manifest.proposalTopics[entityType] ?? accord.catalog.proposalsTopic(entityType),
          ...(manifest.keyConcurrency === undefined ? {} : { keyConcurrency: manifest.keyConcurrency }),
          ...(manifest.partitionsAtOnce === undefined ? {} : { partitionsAtOnce: manifest.partitionsAtOnce }),
        });
        let ready = false;
        const health = createServer((req, res) => {
          // The replica's metrics on its health port: the supervisor knows every replica's port.
          const otel = currentOpenTelemetry();
          if (req.url === '/metrics' && otel) return otel.metricsHandler(req, res);
          const ok = req.url === '/healthz' || (req.url === '/readyz' && ready && !agent.paused);
          res.writeHead(ok ? 200 : req.url === '/healthz' || req.url === '/readyz' ? 503 : 404, {
            'content-type': 'application/json',
          });
          res.end(JSON.stringify({ agent: manifest.name, replica, ready, paused: agent.paused }));
        });
        await new Promise<void>((resolve, reject) => {
          health.once('error', reject);
          health.listen(healthPort, '127.0.0.1', () => resolve());
        });
        try {
          await agent.start();
        } catch (error) {
          health.close();
          await agent.stop().catch(() => {});
          throw error;
        }
        ready = true;
        return {
          running: {
            agent: manifest.name,
            replica,
            version: manifest.version ?? null,
            digest: manifest.digest,
            group: agent.group,
            healthPort: (health.address() as AddressInfo).port,
          },
          async stop() {
            ready = false;
            await agent.stop(); // finishes the batch in hand and checkpoints it
            health.close();
            return {
              processed: agent.pipeline.stats.processed,
              deadLettered: agent.pipeline.stats.deadLettered,
            };
          },
        };
      },
    },
    [],
  );
}

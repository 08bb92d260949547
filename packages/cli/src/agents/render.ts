import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { type AgentManifest, manifestToYaml, serviceNodeFlags } from '@accord/sdk';

/**
 * Kubernetes manifests for users who run there: per agent a ConfigMap with its manifest and a Deployment
 * of its replicas running the image built from the repository's Dockerfile, with the same start command
 * the supervisor uses, probes on /healthz and /readyz, and credentials from the Secret accord-credentials
 * (DATABASE_URL and the like: never in the manifest). Written as JSON documents, which are valid YAML.
 * Replicas get the service profile's V8 flags as NODE_OPTIONS, as under the supervisor (a manifest's own
 * NODE_OPTIONS wins).
 */
export function renderKubernetes(manifests: AgentManifest[], out: string, image: string): string[] {
  mkdirSync(out, { recursive: true });
  const flags = serviceNodeFlags().join(' ');
  const written: string[] = [];
  for (const m of manifests) {
    const labels = { 'app.kubernetes.io/name': `agent-${m.name}`, 'app.kubernetes.io/part-of': 'accord' };
    // Inside the image the modules live under /app/agents/<name>/ (the entry and views next to the manifest).
    const inImage = {
      ...m,
      entryPath: `/app/agents/${m.name}/${basename(m.entryPath)}`,
      ...(m.viewsPath ? { viewsPath: `/app/agents/${m.name}/${basename(m.viewsPath)}` } : {}),
    };
    const configMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `agent-${m.name}`, labels },
      data: { 'manifest.yaml': manifestToYaml(inImage) },
    };
    const probe = (path: string) => ({
      httpGet: { path, port: 8080 },
      periodSeconds: 5,
      failureThreshold: 3,
    });
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: `agent-${m.name}`, labels, annotations: { 'accord/digest': m.digest } },
      spec: {
        replicas: m.replicas,
        // One replica at a time, each finishing its batch and checkpointing before it stops.
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            securityContext: { runAsNonRoot: true, runAsUser: 10001 },
            terminationGracePeriodSeconds: 60,
            containers: [
              {
                name: 'agent',
                image,
                args: ['agent', 'run', '/etc/accord/manifest.yaml', '--health-port', '8080'],
                ports: [{ name: 'health', containerPort: 8080 }],
                env: [
                  ...(flags && m.env.NODE_OPTIONS === undefined
                    ? [{ name: 'NODE_OPTIONS', value: flags }]
                    : []),
                  ...Object.entries(m.env).map(([name, value]) => ({ name, value })),
                ],
                envFrom: [{ secretRef: { name: 'accord-credentials' } }],
                livenessProbe: probe('/healthz'),
                readinessProbe: probe('/readyz'),
                volumeMounts: [{ name: 'manifest', mountPath: '/etc/accord', readOnly: true }],
              },
            ],
            volumes: [{ name: 'manifest', configMap: { name: `agent-${m.name}` } }],
          },
        },
      },
    };
    const file = join(out, `agent-${m.name}.yaml`);
    writeFileSync(
      file,
      `${JSON.stringify(configMap, null, 2)}\n---\n${JSON.stringify(deployment, null, 2)}\n`,
    );
    written.push(file);
  }
  return written;
}

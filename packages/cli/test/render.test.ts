import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseManifest } from '@accord/sdk';
import { renderKubernetes } from '../src/agents/render';

test('--render k8s writes a ConfigMap and a Deployment per agent, with probes and the credentials Secret', () => {
  const manifest = parseManifest(
    'name: pricing\nversion: 2\nentry: ./pricing.js\nviews: ./views.js\nreplicas: 3\nconsumes: [{ topic: commerce.order.events }]\nenv: { ACCORD_MODEL: small }\n',
    '/srv/agents/pricing.yaml',
  );
  const out = mkdtempSync(join(tmpdir(), 'accord-k8s-'));
  expect(renderKubernetes([manifest], out, 'registry.example/accord:2')).toEqual([
    join(out, 'agent-pricing.yaml'),
  ]);
  const [configMap, deployment] = readFileSync(join(out, 'agent-pricing.yaml'), 'utf8')
    .split('\n---\n')
    .map((doc) => JSON.parse(doc));
  expect(configMap).toMatchObject({ kind: 'ConfigMap', metadata: { name: 'agent-pricing' } });
  expect(configMap.data['manifest.yaml']).toContain('entry: /app/agents/pricing/pricing.js');
  expect(configMap.data['manifest.yaml']).toContain('views: /app/agents/pricing/views.js');
  expect(deployment).toMatchObject({
    kind: 'Deployment',
    metadata: { annotations: { 'accord/digest': manifest.digest } },
    spec: {
      replicas: 3,
      strategy: { rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
      template: { spec: { securityContext: { runAsNonRoot: true } } },
    },
  });
  const [container] = deployment.spec.template.spec.containers;
  expect(container).toMatchObject({
    image: 'registry.example/accord:2',
    args: ['agent', 'run', '/etc/accord/manifest.yaml', '--health-port', '8080'],
    env: [
      { name: 'NODE_OPTIONS', value: '--max-semi-space-size=4 --max-old-space-size=512' },
      { name: 'ACCORD_MODEL', value: 'small' },
    ],
    envFrom: [{ secretRef: { name: 'accord-credentials' } }],
    livenessProbe: { httpGet: { path: '/healthz', port: 8080 } },
    readinessProbe: { httpGet: { path: '/readyz', port: 8080 } },
  });
});

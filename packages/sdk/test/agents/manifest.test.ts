import { parseManifest } from '@accord/sdk';

const good = `# the pricing agent
name: pricing
version: 2
entry: ./pricing.js
replicas: 2
consumes:
  - topic: commerce.order.events
    from: latest
proposes: [order]
reads:
  features: [order_count]
  contracts: [loyal_customer@1]
freshness:
  order_count: 5000
env:
  ACCORD_MODEL: small
`;

test('a manifest is read with its defaults, its entry resolved next to it, and a digest', () => {
  const m = parseManifest(good, '/srv/agents/pricing.yaml');
  expect(m).toMatchObject({
    name: 'pricing',
    version: '2',
    entryPath: '/srv/agents/pricing.js',
    replicas: 2,
    consumes: [{ topic: 'commerce.order.events', from: 'latest' }],
    proposes: ['order'],
    emits: [],
    reads: { features: ['order_count'], contracts: ['loyal_customer@1'] },
    freshness: { order_count: 5000 },
    env: { ACCORD_MODEL: 'small' },
  });
  expect(m.digest).toMatch(/^[0-9a-f]{12}$/);
  expect(parseManifest(good.replace('replicas: 2', 'replicas: 3'), 'x.yaml').digest).not.toBe(m.digest);
  const plain = parseManifest('name: a\nentry: a.js\nconsumes: [{ topic: t }]\n', 'a.yaml');
  expect(plain).toMatchObject({ replicas: 1, consumes: [{ topic: 't', from: 'earliest' }] });
  expect([plain.keyConcurrency, plain.partitionsAtOnce]).toEqual([undefined, undefined]);
  const concurrent = parseManifest(`${good}keyConcurrency: 16\npartitionsAtOnce: 3\n`, 'c.yaml');
  expect([concurrent.keyConcurrency, concurrent.partitionsAtOnce]).toEqual([16, 3]);
  expect(concurrent.digest).not.toBe(m.digest);
});

test('errors name the file, the line and the field', () => {
  expect(() => parseManifest(good.replace('replicas: 2', 'replicas: 0'), 'p.yaml')).toThrow(
    'p.yaml:5: replicas: must be at least 1 (got 0)',
  );
  expect(() => parseManifest(good.replace('    from: latest', '    from: yesterday'), 'p.yaml')).toThrow(
    /^p\.yaml:8: consumes\.0\.from: .*\(got "yesterday"\)/,
  );
  expect(() =>
    parseManifest(good.replace('proposes: [order]', 'proposes: [order]\nrelicas: 3'), 'p.yaml'),
  ).toThrow('p.yaml:10: relicas: unknown field');
  expect(() =>
    parseManifest(good.replace('  contracts: [loyal_customer@1]', '  contracts: [loyal_customer]'), 'p.yaml'),
  ).toThrow(
    'p.yaml:12: reads.contracts.0: must be a pinned contract, e.g. available_item@2 (got "loyal_customer")',
  );
  expect(() => parseManifest(good.replace('  order_count: 5000', '  risk_score: 5000'), 'p.yaml')).toThrow(
    'p.yaml: freshness.risk_score: the agent does not read that feature (reads.features)',
  );
  expect(() => parseManifest(`${good}keyConcurrency: 0\n`, 'k.yaml')).toThrow(
    'k.yaml:17: keyConcurrency: must be at least 1 (got 0)',
  );
  expect(() => parseManifest('name: a\n  entry: [', 'bad.yaml')).toThrow(/^bad\.yaml:\d+: not valid YAML/);
  expect(() => parseManifest('- a\n- b\n', 'list.yaml')).toThrow('list.yaml:1: a manifest is a mapping');
  expect(() => parseManifest('name: a\nconsumes: [{ topic: t }]\n', 'n.yaml')).toThrow(/^n\.yaml:1: entry: /);
});

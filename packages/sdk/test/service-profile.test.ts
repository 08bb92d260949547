import {
  ConfigError,
  SERVICE_FETCH_MAX_BYTES,
  SERVICE_HEAP_PROFILES,
  SERVICE_NODE_FLAGS,
  serviceFetchMaxBytes,
  serviceNodeFlags,
} from '@accord/sdk';

describe('the service profile', () => {
  test('service processes get the bounded-memory V8 flags unless ACCORD_SERVICE_NODE_OPTIONS says otherwise', () => {
    expect(serviceNodeFlags({})).toEqual(['--max-semi-space-size=4', '--max-old-space-size=512']);
    expect(SERVICE_NODE_FLAGS).toEqual(serviceNodeFlags({}));
    expect(serviceNodeFlags({ ACCORD_SERVICE_NODE_OPTIONS: '' })).toEqual([]);
    expect(
      serviceNodeFlags({ ACCORD_SERVICE_NODE_OPTIONS: ' --max-old-space-size=1024  --expose-gc ' }),
    ).toEqual(['--max-old-space-size=1024', '--expose-gc']);
  });

  test('a service with a heap profile of its own gets it; the environment still overrides it', () => {
    expect(serviceNodeFlags({}, 'features')).toEqual(['--max-semi-space-size=2', '--max-old-space-size=48']);
    expect(SERVICE_HEAP_PROFILES.features).toEqual(serviceNodeFlags({}, 'features'));
    expect(serviceNodeFlags({}, 'archive')).toEqual([...SERVICE_NODE_FLAGS]);
    expect(serviceNodeFlags({ ACCORD_SERVICE_NODE_OPTIONS: '--max-old-space-size=96' }, 'features')).toEqual([
      '--max-old-space-size=96',
    ]);
  });

  test('anything but a node option is refused, naming it', () => {
    for (const bad of ['-x', 'foo.js', '--', '--max-old-space-size=1 extra']) {
      const call = () => serviceNodeFlags({ ACCORD_SERVICE_NODE_OPTIONS: bad });
      expect(call).toThrow(ConfigError);
    }
    expect(() => serviceNodeFlags({ ACCORD_SERVICE_NODE_OPTIONS: '--ok -x' })).toThrow(
      'ACCORD_SERVICE_NODE_OPTIONS: "-x" is not a node option',
    );
  });

  test('services fetch 512 KiB at once unless ACCORD_FETCH_MAX_BYTES is set', () => {
    expect(SERVICE_FETCH_MAX_BYTES).toBe(512 * 1024);
    expect(serviceFetchMaxBytes({})).toBe(512 * 1024);
    expect(serviceFetchMaxBytes({ ACCORD_FETCH_MAX_BYTES: '4194304' })).toBeUndefined();
  });

  test('the log parse stage fetches 256 KiB under a 48 MB heap ceiling; the environment overrides both', () => {
    expect(serviceFetchMaxBytes({}, 'logs-parse')).toBe(256 * 1024);
    expect(serviceFetchMaxBytes({}, 'logs-summarize')).toBe(512 * 1024);
    expect(serviceFetchMaxBytes({ ACCORD_FETCH_MAX_BYTES: '1048576' }, 'logs-parse')).toBeUndefined();
    expect(serviceNodeFlags({}, 'logs-parse')).toEqual([
      '--max-semi-space-size=2',
      '--max-old-space-size=48',
    ]);
    expect(serviceNodeFlags({}, 'logs-detect')).toEqual([...SERVICE_NODE_FLAGS]);
  });
});

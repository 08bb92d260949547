import { type Command, formatTable, parseCommandArgs } from '../src/command';
import { main } from '../src/main';

const command: Command = {
  name: 'demo',
  summary: 's',
  usage: 'accord demo [--json]',
  help: 'h',
  options: { json: { type: 'boolean' }, from: { type: 'string' } },
  run: async () => 0,
};

test('parseCommandArgs names an unknown option and points at --help', () => {
  expect(() => parseCommandArgs(command, ['--nope'])).toThrow(
    /Unknown option '--nope'.*\(see: accord demo --help\)/,
  );
  expect(parseCommandArgs(command, ['x', '--json', '--from', 'earliest'])).toMatchObject({
    positionals: ['x'],
    values: { json: true, from: 'earliest' },
  });
});

test('formatTable pads columns under upper-case headers', () => {
  expect(
    formatTable(
      [
        { a: 'x', b: 'long value' },
        { a: 'yyy', b: '' },
      ],
      ['a', 'b'],
    ),
  ).toEqual(['A    B', 'x    long value', 'yyy']);
});

describe('main', () => {
  let out: string[];
  let err: string[];
  beforeEach(() => {
    out = [];
    err = [];
    jest.spyOn(process.stdout, 'write').mockImplementation((s) => out.push(String(s)) > 0);
    jest.spyOn(process.stderr, 'write').mockImplementation((s) => err.push(String(s)) > 0);
  });
  afterEach(() => jest.restoreAllMocks());

  test('--help lists the commands and exits 0', async () => {
    expect(await main(['--help'])).toBe(0);
    expect(out.join('')).toMatch(/Commands:\n\s+up\s+start the local stack/);
  });

  test('an unknown command exits 2 with one line', async () => {
    expect(await main(['frobnicate'])).toBe(2);
    expect(err).toEqual([`accord: unknown command "frobnicate" (run 'accord --help' for the list)\n`]);
  });

  test('a bad option exits 2 naming it, and <command> --help prints the usage', async () => {
    expect(await main(['status', '--jsn'])).toBe(2);
    expect(err.join('')).toMatch(/^accord status: Unknown option '--jsn'.*\[USAGE\]\n$/);
    expect(await main(['status', '--help'])).toBe(0);
    expect(out.join('')).toMatch(/^Usage: accord status \[--json\]/);
  });
});

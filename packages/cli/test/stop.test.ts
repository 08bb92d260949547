/**
 * `accord stop` and a deploy interrupted between writing an agent's manifest and its supervisor writing
 * its state: the supervisor (a stand-in process here: what is tested is how stop finds it) is still
 * stopped once its state appears, and a name never deployed stops nothing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/main';

jest.setTimeout(30000);

let dir: string;
let out: string[];
let err: string[];
const children: ChildProcess[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'accord-agents-'));
  process.env.ACCORD_AGENTS_DIR = dir;
  out = [];
  err = [];
  jest.spyOn(process.stdout, 'write').mockImplementation((s) => out.push(String(s)) > 0);
  jest.spyOn(process.stderr, 'write').mockImplementation((s) => err.push(String(s)) > 0);
});

afterEach(() => {
  jest.restoreAllMocks();
  for (const child of children) child.kill('SIGKILL');
  delete process.env.ACCORD_AGENTS_DIR;
  rmSync(dir, { recursive: true, force: true });
});

function state(name: string, supervisorPid: number): void {
  writeFileSync(
    join(dir, name, 'state.json'),
    JSON.stringify({
      name,
      version: null,
      digest: 'd',
      desiredReplicas: 1,
      supervisorPid,
      status: 'starting',
      replicas: [],
    }),
  );
}

test('an agent whose supervisor writes its state only after stop began is still stopped', async () => {
  mkdirSync(join(dir, 'late'));
  writeFileSync(join(dir, 'late', 'manifest.yaml'), 'name: late\n');
  const supervisor = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(supervisor);
  const exited = new Promise((resolve) => supervisor.once('exit', (_code, signal) => resolve(signal)));
  setTimeout(() => state('late', supervisor.pid as number), 1000);
  expect(await main(['stop', 'late'])).toBe(0);
  expect(out.join('')).toBe('late: stopped\n');
  expect(await exited).toBe('SIGTERM');
});

test('a name never deployed is refused before any agent is stopped', async () => {
  mkdirSync(join(dir, 'real'));
  const supervisor = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(supervisor);
  state('real', supervisor.pid as number);
  expect(await main(['stop', 'real', 'typo'])).toBe(2);
  expect(err.join('')).toMatch(/no deployed agent "typo" \(see: accord ps\)/);
  expect(supervisor.exitCode).toBeNull();
  expect(supervisor.signalCode).toBeNull();
});

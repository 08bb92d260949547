import { userInfo } from 'node:os';
import { type Ops, withOps } from '@accord/sdk/ops';
import { loadStack } from './stack';

/** Who runs an operator command: recorded with every replay, rebind and dead-letter action. */
export function who(): string {
  return process.env.ACCORD_USER || `${userInfo().username}@cli`;
}

/** Runs `work` with the operator face connected to the stack this command talks to. */
export function withStackOps<T>(work: (ops: Ops) => Promise<T>): Promise<T> {
  return withOps(loadStack().config, work);
}

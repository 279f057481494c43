/** `heartbeat.js heartbeat`: send one heartbeat for the task. */
import { answerToken } from './answer';
import { resolveToken } from './command';
import type { Command } from './command';

export const heartbeatCommand: Command = {
  options: ['task-file'],
  takesCommand: false,
  prepare({ options }, env) {
    const token = resolveToken(options, env);
    return () => answerToken(token, (reporter) => reporter.heartbeat(), 'heartbeat sent');
  },
};

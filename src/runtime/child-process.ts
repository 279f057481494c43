/**
 * The job's process: started in its own process group without a shell, its output forwarded (and kept), stopped with
 * SIGTERM then SIGKILL.
 */
import { spawn } from 'child_process';
import type { ChildProcess } from 'child_process';
import { EventEmitter } from 'events';
import * as fs from 'fs';
import type { Log } from './log';
import { delay, errorMessage } from './util';

/** How the job's process ended. */
export interface ChildEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the command could not be started at all. */
  spawnError?: NodeJS.ErrnoException;
}

/** A started job. */
export interface StartedChild {
  child: ChildProcess;
  ended: Promise<ChildEnd>;
  /** Wait (up to `ms`) until the job's output streams are closed, then stop reading them. */
  drained(ms: number): Promise<void>;
}

/** Where the job's output goes. */
export interface ChildOutput {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  /** Keeps the end of the combined output. */
  readonly tail: TailBuffer;
  /** Also gets the combined output, if set. */
  readonly logFile?: fs.WriteStream;
}

/** Start `command` in its own process group, stdin from /dev/null, stdout/stderr forwarded to `output`. */
export function startChild(command: string, args: string[], opts: ChildOutput & { env: NodeJS.ProcessEnv; cwd?: string }): StartedChild {
  // Own process group (detached), so the whole job (including its children) can be signalled at once.
  let child: ChildProcess;
  try {
    child = spawn(command, args, { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  } catch (e) {
    // Invalid arguments (e.g. a NUL byte) throw at once instead of emitting 'error'.
    const err = e as NodeJS.ErrnoException;
    const dummy = Object.assign(new EventEmitter(), { pid: undefined, stdout: null, stderr: null }) as unknown as ChildProcess;
    return { child: dummy, ended: Promise.resolve({ code: null, signal: null, spawnError: err }), drained: async () => undefined };
  }
  let closed = false;
  const closedPromise = new Promise<void>((resolve) => child.once('close', () => {
    closed = true;
    resolve();
  }));
  const ended = new Promise<ChildEnd>((resolve) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      // 'error' without a pid: the command could not start. (With a pid, it is a failed kill(); 'exit' follows.)
      if (child.pid === undefined) resolve({ code: null, signal: null, spawnError: err });
    });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  if (child.stdout) forward(child.stdout, opts.stdout, opts.tail, opts.logFile);
  if (child.stderr) forward(child.stderr, opts.stderr, opts.tail, opts.logFile);
  return {
    child,
    ended,
    drained: async (ms) => {
      if (!closed) await Promise.race([closedPromise, delay(ms)]);
      child.stdout?.destroy();
      child.stderr?.destroy();
    },
  };
}

function forward(from: NodeJS.ReadableStream, to: NodeJS.WritableStream, tail: TailBuffer, copy?: fs.WriteStream): void {
  from.on('data', (chunk: Buffer) => {
    tail.push(chunk);
    if (copy && !copy.destroyed) copy.write(chunk);
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.on('error', () => undefined);
}

/** Open a file for appending the job's output; `undefined` (and a warning) if it cannot be opened. */
export function openLogFile(file: string, log: Log): fs.WriteStream | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'a');
  } catch (e) {
    log(`cannot open the log file ${file} (${errorMessage(e)}); the job's output is not copied there`);
    return undefined;
  }
  const stream = fs.createWriteStream(file, { fd });
  stream.on('error', (e) => log(`writing the log file ${file} failed: ${errorMessage(e)}`));
  return stream;
}

/** SIGTERM the job's process group, SIGKILL it after `graceMs` if the job (or anything in its group) is still there. */
export async function stopChild(child: ChildProcess, ended: Promise<ChildEnd>, graceMs: number, log: Log): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  let exited = false;
  void ended.then(() => (exited = true));
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && !(exited && !groupAlive(pid))) {
    await delay(Math.min(50, Math.max(1, deadline - Date.now())));
  }
  if (!exited || groupAlive(pid)) {
    log(`the job did not stop within ${graceMs} ms of SIGTERM; sending SIGKILL`);
    signalGroup(pid, 'SIGKILL');
  }
  await Promise.race([ended, delay(5_000)]);
}

/** Send a signal to a process group; ignores groups that are already gone. */
export function signalGroup(pgid: number | undefined, signal: NodeJS.Signals): void {
  if (!pgid) return;
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: nothing left in the group.
  }
}

/** Whether any live (non-zombie) process is in the process group. Uses /proc on Linux; falls back to kill(0). */
export function groupAlive(pgid: number): boolean {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid pgrp ... — comm may contain spaces and parentheses, so parse after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
  }
  return false;
}

/** Keeps the last `limit` bytes written to it. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}

  public push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.chunks.length > 1 && this.size - this.chunks[0].length >= this.limit) {
      this.size -= this.chunks.shift()!.length;
    }
  }

  /** The kept bytes as UTF-8 (a character cut at the start is dropped). */
  public toString(): string {
    let buf = Buffer.concat(this.chunks);
    if (buf.length > this.limit) buf = buf.subarray(buf.length - this.limit);
    let start = 0;
    // Skip UTF-8 continuation bytes (10xxxxxx) of a character cut in half.
    while (start < buf.length && start < 3 && buf[start] >= 0x80 && buf[start] < 0xc0) start++;
    return buf.subarray(start).toString('utf8');
  }
}

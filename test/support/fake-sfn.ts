/**
 * A local stand-in for the AWS Step Functions API, speaking the same JSON protocol as the real service
 * (`POST /`, `content-type: application/x-amz-json-1.0`, `X-Amz-Target: AWSStepFunctions.<Action>`).
 *
 * Point an SDK client (or the bundled heartbeat runtime) at it with `AWS_ENDPOINT_URL_SFN=<fake.url>` and
 * static credentials. It records every call, tracks task tokens (open / succeeded / failed / timed-out),
 * answers like AWS does for unknown and closed tokens, validates the SendTask* limits, and can inject faults.
 *
 * Activities: {@link FakeStepFunctions.addActivityTask} queues a task; `GetActivityTask` long-polls (held up to
 * `activityPollHoldMs`, then answered `{}`) and hands tasks out first-in first-out to whichever poller asks first
 * (as AWS does: any poller gets any task). Draws are recorded in {@link FakeStepFunctions.draws}; a poll whose
 * connection closes before its answer is counted in {@link FakeStepFunctions.abandonedPolls}.
 *
 * ```ts
 * const sfn = new FakeStepFunctions();
 * await sfn.start();
 * const token = sfn.addToken();
 * sfn.injectFault({ action: 'SendTaskHeartbeat', times: 2, fault: 'ThrottlingException' });
 * // ... run something with AWS_ENDPOINT_URL_SFN=sfn.url ...
 * const final = await sfn.onFinal(token);
 * await sfn.stop();
 * ```
 */
import * as http from 'http';
import type { AddressInfo } from 'net';

/** State of a task token, as Step Functions sees it. */
export type TokenState = 'open' | 'succeeded' | 'failed' | 'timed-out';

/** Actions that answer a task token. */
export type TokenAction = 'SendTaskHeartbeat' | 'SendTaskSuccess' | 'SendTaskFailure';

/** One request the fake received. */
export interface RecordedCall {
  /** The action from `X-Amz-Target` (without the `AWSStepFunctions.` prefix). */
  readonly action: string;
  /** The parsed JSON body (or `undefined` if it was not JSON). */
  readonly body: any;
  /** `body.taskToken`, when present. */
  readonly token?: string;
  /** When the request arrived (`Date.now()`). */
  readonly time: number;
  /** The region from the SigV4 `Authorization` header's credential scope, if signed. */
  readonly region?: string;
  /** Whether the request carried a SigV4 `Authorization` header. */
  readonly signed: boolean;
  /** HTTP status the fake answered with (`0` when the connection was dropped or left hanging). */
  status: number;
  /** The short error type answered (e.g. `TaskTimedOut`), if the answer was an error. */
  errorType?: string;
  /** GetActivityTask: the task token it was answered with (none for an empty answer). */
  drawnToken?: string;
  /** GetActivityTask: when it was answered (`Date.now()`). */
  answeredAt?: number;
}

/** One activity task handed out by GetActivityTask. */
export interface ActivityDraw {
  readonly activityArn: string;
  readonly token: string;
  /** The `input` string the task was queued with. */
  readonly input: string;
  /** The poll's `workerName`. */
  readonly workerName?: string;
  readonly time: number;
}

/** A final result (SendTaskSuccess / SendTaskFailure) the fake accepted. */
export interface FinalResult {
  readonly token: string;
  readonly action: 'SendTaskSuccess' | 'SendTaskFailure';
  readonly state: 'succeeded' | 'failed';
  /** Parsed `output` of SendTaskSuccess. */
  readonly output?: any;
  /** Raw `output` string of SendTaskSuccess. */
  readonly outputRaw?: string;
  /** `error` of SendTaskFailure. */
  readonly error?: string;
  /** `cause` of SendTaskFailure. */
  readonly cause?: string;
  readonly time: number;
}

/**
 * What a faulted call answers:
 * - an error type name (`'ThrottlingException'`, `'TaskTimedOut'`, `'InvalidToken'`, ...): HTTP 400 with that `__type`
 *   (`'InternalFailure'` / `'ServiceUnavailable'` answer 500 / 503);
 * - a number: that HTTP status with an `InternalFailure` body;
 * - `'reset'`: the connection is destroyed without an answer (a network error for the client);
 * - `'hang'`: no answer at all until the fake stops (a timeout for the client).
 */
export type Fault = string | number | 'reset' | 'hang';

/** A fault rule: the next `times` calls that match `action` (and `token`, if given) answer `fault`. */
export interface FaultRule {
  /** Action to match; any action when omitted. */
  readonly action?: string;
  /** Token to match; any token when omitted. */
  readonly token?: string;
  /** How many matching calls to fault (default 1; `Infinity` for all). */
  readonly times?: number;
  readonly fault: Fault;
  /** Error message to answer with. */
  readonly message?: string;
}

/** Options for a token added with {@link FakeStepFunctions.addToken}. */
export interface AddTokenOptions {
  /**
   * Like the waiting step's HeartbeatSeconds: the token times out if no heartbeat (or the addition itself) happened within
   * this many seconds. No heartbeat timeout when omitted.
   */
  readonly heartbeatSeconds?: number;
  /** Like the waiting step's TimeoutSeconds: the token times out this long after it was added. */
  readonly timeoutSeconds?: number;
}

export interface FakeStepFunctionsOptions {
  /** What any call on a closed (succeeded / failed / timed-out) token answers. AWS answers `TaskTimedOut`. Default `'TaskTimedOut'`. */
  readonly closedTokenError?: 'TaskTimedOut' | 'InvalidToken' | 'TaskDoesNotExist';
  /** What a call on a token the fake never heard of answers. Default `'InvalidToken'`. */
  readonly unknownTokenError?: 'InvalidToken' | 'TaskDoesNotExist' | 'TaskTimedOut';
  /** Artificial delay before every answer (ms). Default 0. */
  readonly latencyMs?: number;
  /** How long a GetActivityTask long poll is held when no task is queued, before `{}` is answered (ms). Default 300. */
  readonly activityPollHoldMs?: number;
}

/** `SendTaskFailure` / `SendTaskSuccess` limits, as documented for the Step Functions API. */
const MAX_ERROR = 256;
const MAX_CAUSE = 32_768;
const MAX_OUTPUT = 262_144;
const MAX_TOKEN = 2048;

const LOST_ERRORS = new Set(['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist']);

interface TokenEntry {
  state: TokenState;
  heartbeatMs?: number;
  heartbeatTimer?: NodeJS.Timeout;
  timeoutTimer?: NodeJS.Timeout;
  heartbeats: number;
  final?: FinalResult;
  waiters: Array<(final: FinalResult) => void>;
}

interface ActiveFault extends FaultRule {
  remaining: number;
}

interface QueuedActivityTask {
  readonly activityArn: string;
  readonly token: string;
  readonly input: string;
}

interface WaitingPoll {
  readonly activityArn: string;
  readonly call: RecordedCall;
  readonly res: http.ServerResponse;
  readonly timer: NodeJS.Timeout;
}

/** A local fake of the Step Functions task-token API. */
export class FakeStepFunctions {
  /** Every request received, in order. */
  public readonly calls: RecordedCall[] = [];
  /** Every final result accepted, in order. */
  public readonly finals: FinalResult[] = [];
  /** Every activity task handed out, in order. */
  public readonly draws: ActivityDraw[] = [];
  /** GetActivityTask polls whose connection closed before they were answered (a client that dropped a poll). */
  public abandonedPolls = 0;
  /** How long a GetActivityTask poll is held when nothing is queued (ms); may be changed at any time. */
  public activityPollHoldMs: number;

  private readonly server: http.Server;
  private readonly tokens = new Map<string, TokenEntry>();
  private faults: ActiveFault[] = [];
  private readonly hanging = new Set<http.ServerResponse>();
  private readonly callWaiters: Array<{ predicate: (c: RecordedCall) => boolean; resolve: (c: RecordedCall) => void }> = [];
  private readonly activityQueue: QueuedActivityTask[] = [];
  private readonly waitingPolls: WaitingPoll[] = [];
  private readonly options: FakeStepFunctionsOptions;
  private tokenCounter = 0;
  private _url?: string;
  private port = 0;

  constructor(options: FakeStepFunctionsOptions = {}) {
    this.options = options;
    this.activityPollHoldMs = options.activityPollHoldMs ?? 300;
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 5_000;
  }

  /** Base URL (`http://127.0.0.1:<port>`), valid after {@link start}. */
  public get url(): string {
    if (!this._url) throw new Error('FakeStepFunctions is not started');
    return this._url;
  }

  /**
   * Start listening on 127.0.0.1. Without a port, a free one is picked the first time and reused when started
   * again after {@link stop} (so a test can take the endpoint down and bring it back).
   */
  public async start(port?: number): Promise<string> {
    const wanted = port ?? this.port;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(wanted, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    this._url = `http://127.0.0.1:${this.port}`;
    return this._url;
  }

  /** Stop listening, drop open connections (including hanging calls). Token state and records are kept. */
  public async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    for (const poll of this.waitingPolls.splice(0)) {
      clearTimeout(poll.timer);
      poll.res.destroy();
    }
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Stop, and also clear all token timers (call at the end of a test). */
  public async dispose(): Promise<void> {
    for (const entry of this.tokens.values()) this.clearTimers(entry);
    this.activityQueue.length = 0;
    await this.stop();
  }

  /** Register an open task token (a generated one when omitted) and return it. */
  public addToken(token?: string, options: AddTokenOptions = {}): string {
    const t = token ?? `token-${++this.tokenCounter}-${Math.random().toString(36).slice(2)}`;
    if (this.tokens.has(t)) throw new Error(`token ${t} already exists`);
    const entry: TokenEntry = { state: 'open', heartbeats: 0, waiters: [] };
    this.tokens.set(t, entry);
    if (options.heartbeatSeconds !== undefined) {
      entry.heartbeatMs = options.heartbeatSeconds * 1000;
      this.armHeartbeat(t, entry);
    }
    if (options.timeoutSeconds !== undefined) {
      entry.timeoutTimer = setTimeout(() => this.timeOutToken(t), options.timeoutSeconds * 1000);
      entry.timeoutTimer.unref();
    }
    return t;
  }

  /**
   * Queue an activity task (registers its token, a generated one when omitted, and returns it). `input` is sent as is
   * when it is a string, else as JSON. `options.heartbeatSeconds` starts counting when the task is drawn (as in AWS);
   * `options.timeoutSeconds` when it is queued. A poll waiting on the activity gets it at once.
   */
  public addActivityTask(activityArn: string, input: unknown, token?: string, options: AddTokenOptions = {}): string {
    const t = this.addToken(token, { timeoutSeconds: options.timeoutSeconds });
    if (options.heartbeatSeconds !== undefined) this.tokens.get(t)!.heartbeatMs = options.heartbeatSeconds * 1000;
    this.activityQueue.push({ activityArn, token: t, input: typeof input === 'string' ? input : JSON.stringify(input) });
    this.dispatchActivityTasks();
    return t;
  }

  /** Activity tasks queued and not drawn yet (of one activity, or all). */
  public queuedActivityTasks(activityArn?: string): number {
    return this.activityQueue.filter((t) => activityArn === undefined || t.activityArn === activityArn).length;
  }

  /** GetActivityTask polls being held right now (optionally only those of one `workerName`). */
  public waitingPollCount(workerName?: string): number {
    return this.waitingPolls.filter((p) => workerName === undefined || p.call.body?.workerName === workerName).length;
  }

  /** Current state of a token (`undefined` if unknown). */
  public tokenState(token: string): TokenState | undefined {
    return this.tokens.get(token)?.state;
  }

  /** Number of heartbeats accepted for a token. */
  public heartbeatCount(token: string): number {
    return this.tokens.get(token)?.heartbeats ?? 0;
  }

  /** Time out an open token now, as Step Functions does when HeartbeatSeconds/TimeoutSeconds pass. */
  public timeOutToken(token: string): void {
    const entry = this.mustGet(token);
    if (entry.state !== 'open') return;
    entry.state = 'timed-out';
    this.clearTimers(entry);
  }

  /** Inject a fault (see {@link FaultRule}). Rules are matched in the order they were added. */
  public injectFault(rule: FaultRule): void {
    this.faults.push({ ...rule, remaining: rule.times ?? 1 });
  }

  /** Shorthand: the next `times` calls of `action` answer `fault`. */
  public failNext(action: string, times: number, fault: Fault): void {
    this.injectFault({ action, times, fault });
  }

  /** Remove all pending faults. */
  public clearFaults(): void {
    this.faults = [];
  }

  /** Calls received, optionally only those of one action and/or token. */
  public callsFor(action?: string, token?: string): RecordedCall[] {
    return this.calls.filter((c) => (action === undefined || c.action === action) && (token === undefined || c.token === token));
  }

  /** Final results accepted for a token. A correct client never produces more than one. */
  public finalsFor(token: string): FinalResult[] {
    return this.finals.filter((f) => f.token === token);
  }

  /**
   * The first final result accepted for a token: as a promise, or through a callback (called at once if the token is
   * already closed with a result). The promise never settles for a token that times out; combine it with a timeout.
   */
  public onFinal(token: string): Promise<FinalResult>;
  public onFinal(token: string, callback: (final: FinalResult) => void): void;
  public onFinal(token: string, callback?: (final: FinalResult) => void): Promise<FinalResult> | void {
    const entry = this.mustGet(token);
    if (callback) {
      if (entry.final) callback(entry.final);
      else entry.waiters.push(callback);
      return;
    }
    return new Promise<FinalResult>((resolve) => {
      if (entry.final) resolve(entry.final);
      else entry.waiters.push(resolve);
    });
  }

  /** Resolves with the first call (already received or future) matching the predicate; rejects after `timeoutMs`. */
  public waitForCall(predicate: (call: RecordedCall) => boolean, timeoutMs = 10_000): Promise<RecordedCall> {
    const existing = this.calls.find(predicate);
    if (existing) return Promise.resolve(existing);
    return new Promise<RecordedCall>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.callWaiters.indexOf(waiter);
        if (i >= 0) this.callWaiters.splice(i, 1);
        reject(new Error(`no matching call within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = {
        predicate,
        resolve: (c: RecordedCall) => {
          clearTimeout(timer);
          resolve(c);
        },
      };
      this.callWaiters.push(waiter);
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const target = String(req.headers['x-amz-target'] ?? '');
      const action = target.startsWith('AWSStepFunctions.') ? target.slice('AWSStepFunctions.'.length) : target;
      let body: any;
      try {
        body = raw ? JSON.parse(raw) : {};
      } catch {
        body = undefined;
      }
      const auth = String(req.headers.authorization ?? '');
      const region = /Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(auth)?.[1];
      const call: RecordedCall = {
        action,
        body,
        token: typeof body?.taskToken === 'string' ? body.taskToken : undefined,
        time: Date.now(),
        region,
        signed: auth.startsWith('AWS4-HMAC-SHA256'),
        status: 0,
      };
      this.calls.push(call);
      for (const w of [...this.callWaiters]) {
        if (w.predicate(call)) {
          this.callWaiters.splice(this.callWaiters.indexOf(w), 1);
          w.resolve(call);
        }
      }
      const respond = () => this.respond(req, res, call, raw);
      if (this.options.latencyMs) setTimeout(respond, this.options.latencyMs);
      else respond();
    });
  }

  private respond(req: http.IncomingMessage, res: http.ServerResponse, call: RecordedCall, _raw: string): void {
    if (req.method !== 'POST' || !String(req.headers['content-type'] ?? '').startsWith('application/x-amz-json-1.0')) {
      return this.error(res, call, 400, 'SerializationException', 'expected POST with content-type application/x-amz-json-1.0');
    }
    if (call.body === undefined || typeof call.body !== 'object' || call.body === null) {
      return this.error(res, call, 400, 'SerializationException', 'body is not a JSON object');
    }
    if (!call.signed) {
      return this.error(res, call, 400, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
    }

    const fault = this.takeFault(call);
    if (fault) {
      if (fault.fault === 'reset') {
        call.status = 0;
        req.socket.destroy();
        return;
      }
      if (fault.fault === 'hang') {
        call.status = 0;
        this.hanging.add(res);
        res.on('close', () => this.hanging.delete(res));
        return;
      }
      if (typeof fault.fault === 'number') {
        return this.error(res, call, fault.fault, 'InternalFailure', fault.message ?? 'injected server fault');
      }
      const type = fault.fault;
      const status = type === 'InternalFailure' ? 500 : type === 'ServiceUnavailable' ? 503 : 400;
      if (LOST_ERRORS.has(type) && call.token && this.tokens.get(call.token)?.state === 'open') {
        // A "token is gone" answer is only ever true once: the token stays gone.
        this.timeOutToken(call.token);
      }
      return this.error(res, call, status, type, fault.message ?? `injected ${type}`);
    }

    switch (call.action) {
      case 'SendTaskHeartbeat':
      case 'SendTaskSuccess':
      case 'SendTaskFailure':
        return this.tokenCall(res, call);
      case 'GetActivityTask':
        return this.getActivityTask(res, call);
      default:
        return this.error(res, call, 400, 'UnknownOperationException', `unknown operation ${call.action}`);
    }
  }

  private getActivityTask(res: http.ServerResponse, call: RecordedCall): void {
    const activityArn = call.body.activityArn;
    if (typeof activityArn !== 'string' || activityArn.length === 0) {
      return this.error(res, call, 400, 'ValidationException', '1 validation error detected: Value at \'activityArn\' failed to satisfy constraint');
    }
    const timer = setTimeout(() => {
      const i = this.waitingPolls.indexOf(poll);
      if (i < 0) return;
      this.waitingPolls.splice(i, 1);
      call.answeredAt = Date.now();
      this.ok(res, call, {});
    }, this.activityPollHoldMs);
    const poll: WaitingPoll = { activityArn, call, res, timer };
    this.waitingPolls.push(poll);
    res.on('close', () => {
      const i = this.waitingPolls.indexOf(poll);
      if (i < 0) return;
      // The client went away before the answer.
      this.waitingPolls.splice(i, 1);
      clearTimeout(timer);
      this.abandonedPolls++;
    });
    this.dispatchActivityTasks();
  }

  /** Hand queued tasks to waiting polls, both first-in first-out. */
  private dispatchActivityTasks(): void {
    for (let i = 0; i < this.activityQueue.length;) {
      const task = this.activityQueue[i];
      if (this.tokens.get(task.token)?.state !== 'open') {
        // Timed out (TimeoutSeconds) while queued: nobody gets it any more.
        this.activityQueue.splice(i, 1);
        continue;
      }
      const pollIndex = this.waitingPolls.findIndex((p) => p.activityArn === task.activityArn);
      if (pollIndex < 0) {
        i++;
        continue;
      }
      const [poll] = this.waitingPolls.splice(pollIndex, 1);
      this.activityQueue.splice(i, 1);
      clearTimeout(poll.timer);
      this.armHeartbeat(task.token, this.tokens.get(task.token)!);
      poll.call.drawnToken = task.token;
      poll.call.answeredAt = Date.now();
      const workerName = poll.call.body?.workerName;
      this.draws.push({ activityArn: task.activityArn, token: task.token, input: task.input, workerName, time: Date.now() });
      this.ok(poll.res, poll.call, { taskToken: task.token, input: task.input });
    }
  }

  private tokenCall(res: http.ServerResponse, call: RecordedCall): void {
    const body = call.body;
    const token = call.token;
    if (!token || token.length > MAX_TOKEN) {
      return this.error(res, call, 400, 'ValidationException', '1 validation error detected: Value at \'taskToken\' failed to satisfy constraint');
    }
    const entry = this.tokens.get(token);
    if (!entry) {
      const type = this.options.unknownTokenError ?? 'InvalidToken';
      return this.error(res, call, 400, type, type === 'InvalidToken' ? 'Invalid Token: \'Unknown token\'' : 'Task does not exist');
    }
    if (entry.state !== 'open') {
      const type = this.options.closedTokenError ?? 'TaskTimedOut';
      return this.error(res, call, 400, type, 'Task Timed Out: \'Provided task does not exist anymore\'');
    }

    if (call.action === 'SendTaskHeartbeat') {
      entry.heartbeats++;
      this.armHeartbeat(token, entry);
      return this.ok(res, call, {});
    }

    let final: FinalResult;
    if (call.action === 'SendTaskSuccess') {
      const outputRaw = body.output;
      if (typeof outputRaw !== 'string' || Buffer.byteLength(outputRaw, 'utf8') > MAX_OUTPUT) {
        return this.error(res, call, 400, 'ValidationException', 'output is missing or longer than 262144 bytes');
      }
      let output: any;
      try {
        output = JSON.parse(outputRaw);
      } catch {
        return this.error(res, call, 400, 'InvalidOutput', 'Invalid Output: output is not valid JSON');
      }
      final = { token, action: 'SendTaskSuccess', state: 'succeeded', output, outputRaw, time: Date.now() };
    } else {
      const error = body.error;
      const cause = body.cause;
      if ((error !== undefined && (typeof error !== 'string' || [...error].length > MAX_ERROR))
        || (cause !== undefined && (typeof cause !== 'string' || [...cause].length > MAX_CAUSE))) {
        return this.error(res, call, 400, 'ValidationException', 'error longer than 256 or cause longer than 32768 characters');
      }
      final = { token, action: 'SendTaskFailure', state: 'failed', error, cause, time: Date.now() };
    }
    entry.state = final.state;
    entry.final = final;
    this.clearTimers(entry);
    this.finals.push(final);
    this.ok(res, call, {});
    for (const w of entry.waiters.splice(0)) w(final);
  }

  private takeFault(call: RecordedCall): ActiveFault | undefined {
    const rule = this.faults.find((f) => f.remaining > 0
      && (f.action === undefined || f.action === call.action)
      && (f.token === undefined || f.token === call.token));
    if (!rule) return undefined;
    rule.remaining--;
    this.faults = this.faults.filter((f) => f.remaining > 0);
    return rule;
  }

  private ok(res: http.ServerResponse, call: RecordedCall, body: object): void {
    call.status = 200;
    this.send(res, 200, body);
  }

  private error(res: http.ServerResponse, call: RecordedCall, status: number, type: string, message: string): void {
    call.status = status;
    call.errorType = type;
    this.send(res, status, { __type: `com.amazonaws.swf.service.v2.model#${type}`, message });
  }

  private send(res: http.ServerResponse, status: number, body: object): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.0',
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': `fake-${this.calls.length}`,
    });
    res.end(text);
  }

  private armHeartbeat(token: string, entry: TokenEntry): void {
    if (entry.heartbeatMs === undefined) return;
    if (entry.heartbeatTimer) clearTimeout(entry.heartbeatTimer);
    entry.heartbeatTimer = setTimeout(() => this.timeOutToken(token), entry.heartbeatMs);
    entry.heartbeatTimer.unref();
  }

  private clearTimers(entry: TokenEntry): void {
    if (entry.heartbeatTimer) clearTimeout(entry.heartbeatTimer);
    if (entry.timeoutTimer) clearTimeout(entry.timeoutTimer);
    entry.heartbeatTimer = undefined;
    entry.timeoutTimer = undefined;
  }

  private mustGet(token: string): TokenEntry {
    const entry = this.tokens.get(token);
    if (!entry) throw new Error(`unknown token ${token}`);
    return entry;
  }
}

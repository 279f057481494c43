/**
 * Keeps the AWS SDK's `NodeVersionSupportWarning` out of the runtime's output (the instance's bootstrap log, and the
 * job's log through it), and leaves every other process warning alone.
 *
 * Source: `@aws-sdk/core` 3.981, `dist-es/submodules/client/emitWarningIfUnsupportedVersion.js`, which every client's
 * runtime config calls with `process.version` when a client is constructed. On Node.js < 22 it calls, once per process,
 * `process.emitWarning("NodeVersionSupportWarning: The AWS SDK for JavaScript (v3)\nversions published after the first
 * week of January 2027\nwill require node >=22. ...")`: no warning type, so Node prints it as
 * `(node:PID) Warning: NodeVersionSupportWarning: ...`, 8 lines with the `--trace-warnings` hint. The runtime is
 * bundled with the SDK version it was tested with, so the warning tells the instance's operator nothing they can act
 * on. The SDK's own switch (`AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true`) is an environment variable, which
 * the job would inherit; filtering `process.emitWarning` leaves the job's environment as it was.
 */
import { isErrorLike } from './util';

/** The name the AWS SDK starts its Node.js version warning with (or, should it ever pass one, its warning type). */
export const SDK_NODE_VERSION_WARNING = 'NodeVersionSupportWarning';

const FILTER_MARK = Symbol.for('shell-script-pipeline.sdkNodeVersionWarningFilter');

/**
 * Whether a `process.emitWarning(warning, typeOrOptions)` call is the SDK's Node.js version warning: its text starts
 * with `NodeVersionSupportWarning:`, or its type (or its Error's name) is `NodeVersionSupportWarning`.
 */
export function isSdkNodeVersionWarning(warning: unknown, typeOrOptions?: unknown): boolean {
  const type = typeof typeOrOptions === 'string' ? typeOrOptions : (typeOrOptions as { type?: unknown } | undefined)?.type;
  if (type === SDK_NODE_VERSION_WARNING) return true;
  if (typeof warning === 'string') return warning.startsWith(`${SDK_NODE_VERSION_WARNING}:`);
  return isErrorLike(warning) && (warning.name === SDK_NODE_VERSION_WARNING || warning.message.startsWith(`${SDK_NODE_VERSION_WARNING}:`));
}

/** Wrap `process.emitWarning` so that the SDK's Node.js version warning is dropped. Idempotent. */
export function filterSdkNodeVersionWarning(): void {
  const current = process.emitWarning as typeof process.emitWarning & { [FILTER_MARK]?: true };
  if (current[FILTER_MARK]) return;
  const filtered = function emitWarning(this: unknown, warning: string | Error, ...rest: unknown[]): void {
    if (isSdkNodeVersionWarning(warning, rest[0])) return;
    (current as (...args: unknown[]) => void).apply(process, [warning, ...rest]);
  };
  process.emitWarning = Object.assign(filtered, { [FILTER_MARK]: true as const }) as typeof process.emitWarning;
}

// Installed when the runtime is loaded, before it creates any SDK client (the warning comes with the first client).
filterSdkNodeVersionWarning();

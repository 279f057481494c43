/**
 * Small helpers shared by the runtime's modules. Internal: not part of the runtime's documented API.
 */

export function isErrorLike(e: unknown): e is Error {
  // Duck-typed: errors from another realm (vm contexts, test runners) are not `instanceof Error` here.
  return typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string';
}

export function errorMessage(e: unknown): string {
  return isErrorLike(e) ? e.message : String(e);
}

export function describeError(e: unknown): string {
  if (!isErrorLike(e)) return String(e);
  const code = (e as { code?: unknown }).code;
  const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const parts = [e.name];
  if (typeof code === 'string' && code !== e.name) parts.push(code);
  if (status) parts.push(`HTTP ${status}`);
  // The SDK says only "Region is missing" when neither AWS_REGION nor a profile names one (on EC2 the bootstrap sets
  // AWS_REGION from instance metadata; anywhere else it must be set by hand).
  const hint = /^Region is missing/.test(e.message) ? ' (set AWS_REGION, e.g. AWS_REGION=us-east-1)' : '';
  return `${parts.join(' ')}: ${e.message || '(no message)'}${hint}`;
}

export function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

export function abortError(action: string): Error {
  return Object.assign(new Error(`${action} aborted`), { name: 'AbortError' });
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Sleep `ms`, rejecting early with an AbortError if any signal aborts. */
export function sleep(ms: number, signals: Array<AbortSignal | undefined>): Promise<void> {
  return new Promise((resolve, reject) => {
    const live = signals.filter((s): s is AbortSignal => s !== undefined);
    if (live.some((s) => s.aborted)) return reject(abortError('sleep'));
    const onAbort = () => {
      clearTimeout(timer);
      live.forEach((s) => s.removeEventListener('abort', onAbort));
      reject(abortError('sleep'));
    };
    const timer = setTimeout(() => {
      live.forEach((s) => s.removeEventListener('abort', onAbort));
      resolve();
    }, ms);
    live.forEach((s) => s.addEventListener('abort', onAbort, { once: true }));
  });
}

/** Abort `target` when any of `signals` aborts. Returns a function that removes the links. */
export function linkSignals(target: AbortController, signals: Array<AbortSignal | undefined>): () => void {
  const live = signals.filter((s): s is AbortSignal => s !== undefined);
  const onAbort = () => target.abort();
  live.forEach((s) => s.addEventListener('abort', onAbort, { once: true }));
  return () => live.forEach((s) => s.removeEventListener('abort', onAbort));
}

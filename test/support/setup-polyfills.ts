import { filterSdkNodeVersionWarning } from '../../src/runtime/sdk-warnings';

// aws-local-stepfunctions 3 targets Node 22 and calls Promise.withResolvers, which Node 20 lacks.
// Without this every Task state in the local interpreter fails with "Promise.withResolvers is not a function".
type Resolvers<T> = { promise: Promise<T>; resolve: (value: T | PromiseLike<T>) => void; reject: (reason?: unknown) => void };
const P = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> };
if (typeof P.withResolvers !== 'function') {
  P.withResolvers = function withResolvers<T>(): Resolvers<T> {
    let resolve!: Resolvers<T>['resolve'];
    let reject!: Resolvers<T>['reject'];
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

// The AWS SDK v3 warns on Node < 22 that its releases after January 2027 will need Node 22
// (@aws-sdk/core emitWarningIfUnsupportedVersion). The runtime drops exactly that warning, and tests that use the
// SDK in-process would otherwise print its eight lines; other warnings still print. test/runtime/sdk-warnings.test.ts
// checks the filter itself in child processes, which this does not touch.
filterSdkNodeVersionWarning();

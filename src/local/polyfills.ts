/**
 * aws-local-stepfunctions 3 targets Node 22 and calls Promise.withResolvers, which Node 20 lacks: without this, every
 * Task state in the local interpreter fails with "Promise.withResolvers is not a function". Imported first by the local
 * runner (so its bundle carries it) and by the jest setup (test/support/setup-polyfills.ts).
 */
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

export {};

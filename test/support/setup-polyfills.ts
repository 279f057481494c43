import { filterSdkNodeVersionWarning } from '../../src/runtime/sdk-warnings';

// aws-local-stepfunctions 3 wants Node 22 (Promise.withResolvers): the local runner's polyfill, so tests and the bundle share it.
import '../../src/local/polyfills';

// The AWS SDK v3 warns on Node < 22 that its releases after January 2027 will need Node 22
// (@aws-sdk/core emitWarningIfUnsupportedVersion). The runtime drops exactly that warning, and tests that use the
// SDK in-process would otherwise print its eight lines; other warnings still print. test/runtime/sdk-warnings.test.ts
// checks the filter itself in child processes, which this does not touch.
filterSdkNodeVersionWarning();

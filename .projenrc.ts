import { JsonFile, awscdk, javascript } from 'projen';

const project = new awscdk.AwsCdkConstructLibrary({
  name: 'cdk-shell-script-pipeline',
  description:
    'Run shell-script jobs on a fresh EC2 instance from AWS Step Functions: a typed, tested replacement for AWS Data Pipeline ShellCommandActivity.',
  keywords: ['aws-cdk', 'cdk', 'data-pipeline', 'step-functions', 'ec2', 'shell', 'batch', 'migration'],
  author: 'Seed d36d431c maintainers',
  authorAddress: 'maintainers@users.noreply.r-seed-d36d431c.example',
  repositoryUrl: 'https://github.com/maintainers/cdk-shell-script-pipeline.git',
  license: 'Apache-2.0',
  defaultReleaseBranch: 'main',

  // cdk-nag 3 (our security test) needs aws-cdk-lib >= 2.257.0; raising this later is a breaking release.
  cdkVersion: '2.257.0',
  constructsVersion: '10.5.1',
  jsiiVersion: '~6.0.0',
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,
  // One type-check config for everything that is not the jsii build (tests, the runtime, example, bench);
  // each of those folders gets a small tsconfig.json extending it, so editors and eslint find it (see below).
  tsconfigDevFile: 'tsconfig.dev.json',

  // commit-and-tag-version 13 and its conventional-changelog dependencies want Node 22 (18 EBADENGINE warnings on
  // every npm ci); 12.x does the same bump on Node 18+. Used only by `bump`/`release`.
  bumpPackage: 'commit-and-tag-version@^12',

  // No GitHub workflows: nothing here can reach GitHub, and releases are cut by hand (see README "Releasing").
  github: false,

  publishToPypi: {
    distName: 'cdk-shell-script-pipeline',
    module: 'cdk_shell_script_pipeline',
  },
  publishToMaven: {
    javaPackage: 'io.github.cdkshellscriptpipeline',
    mavenGroupId: 'io.github.cdk-shell-script-pipeline',
    mavenArtifactId: 'cdk-shell-script-pipeline',
  },

  // The job-side runtime (src/runtime) and the log forwarder Lambda function (src/log-forwarder) are bundled with
  // esbuild into assets/ and shipped as CDK assets. They are not part of the jsii API, so jsii never compiles them
  // and the AWS SDK clients they use stay devDependencies.
  excludeTypescript: ['src/runtime/**', 'src/local/**', 'src/log-forwarder/**'],
  devDeps: [
    '@aws-sdk/client-sfn@^3',
    '@aws-sdk/client-s3@^3',
    '@aws-sdk/client-cloudwatch-logs@^3',
    'cdk-nag@^3',
    'asl-validator@^4',
    'aws-local-stepfunctions@^3',
    // AWS-style IAM evaluation (identity and resource policies, condition keys) for the tests.
    '@cloud-copilot/iam-simulate@^0.1.173',
    // maxConcurrentJobs: the semaphore's DynamoDB tasks answered by a real DynamoDB implementation (in-process, Node 20).
    'dynalite@^4',
    '@aws-sdk/client-dynamodb@^3',
    // The integration test (test/integ.shell-script-pipeline.ts). The alpha follows aws-cdk-lib's version; the registry
    // has no 2.257.0-alpha.0, and 2.245.0-alpha.0 (the newest there) declares aws-cdk-lib ^2.245.0, so it runs on our 2.257.0.
    '@aws-cdk/integ-tests-alpha@2.245.0-alpha.0',
    '@aws-cdk/integ-runner@^2.197.10',
  ],

  // The bundles (assets/) are built once per build, by the test task, which needs them (see below).
  bundlerOptions: { runBundleTask: javascript.RunBundleTask.MANUAL },

  eslintOptions: {
    dirs: ['src'],
    devdirs: ['test', 'example', 'bench'],
  },
  jestOptions: {
    // A run that finds no tests must fail, and snapshots are never rewritten by the test task.
    passWithNoTests: false,
    updateSnapshot: javascript.UpdateSnapshot.NEVER,
    jestConfig: {
      // A one-screen coverage summary in the log (text-summary), the full report in coverage/ (lcov, cobertura).
      coverageReporters: ['json', 'lcov', 'clover', 'cobertura', 'text-summary'],
      // aws-local-stepfunctions 3 wants Node 22 (Promise.withResolvers); Node 20 gets a polyfill.
      setupFiles: ['<rootDir>/test/support/setup-polyfills.ts'],
      testTimeout: 60_000,
    },
  },
  gitignore: [
    // jsii-rosetta's translation tablet, rebuilt by rosetta:extract in every package run.
    '.jsii.tabl.json',
    'cdk.out',
    'example/cdk.out',
    'dist/codeonly',
    '.bench',
    // Integ snapshots are committed without asset bodies (CDK convention); integ-runner's scratch output is not committed.
    'test/**/*.snapshot/**/asset.*',
    'test/cdk-integ.out.*',
  ],
});

// The jsii tools print a large Node 20 end-of-life banner on every call; Node 20 is what this machine has.
project.tasks.addEnvironment('JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION', '20');

// Job-side runtime: one self-contained file the instance runs with the distribution's Node.js 20+
// (the AWS SDK v3 it bundles needs Node 20). Whitespace and syntax are minified, identifiers are not: with mangled
// names V8 needs about 5 MB more (parse zone) to compile the bundle, which is most of the runtime's peak memory
// over a bare Node.js (measured with `npm run bench`, "runtime peak RSS"); the file is about 1 MB instead of 0.6 MB
// (gzip 225 KB instead of 160 KB), downloaded once per run from the same Region.
project.bundler.addBundle('src/runtime/cli.ts', {
  platform: 'node',
  target: 'node20',
  outfile: 'heartbeat.js',
  watchTask: false,
  esbuildArgs: { '--minify-whitespace': true, '--minify-syntax': true },
  keepNames: true,
  // The SDK's ES module builds tree-shake; its CommonJS builds pull in every S3 command.
  mainFields: ['module', 'main'],
  // The AWS SDK's own optional CRT dependency is never used by the Step Functions client.
  externals: ['aws-crt'],
});

// The log forwarder: the Lambda function (src/log-forwarder) that copies a run's log from the job bucket into the job
// log group, so instances need no CloudWatch Logs grant. It bundles its own AWS SDK rather than using the one in the
// Lambda runtime, so the version is pinned and the tests run the same SDK. Target node20 (this machine's Node, the
// bundle smoke test runs it here); the function runs on a newer Node (see src/parts/log-forwarder.ts).
project.bundler.addBundle('src/log-forwarder/index.ts', {
  platform: 'node',
  target: 'node20',
  watchTask: false,
  minify: true,
  keepNames: true,
  mainFields: ['module', 'main'],
  externals: ['aws-crt'],
});

// The local runner (src/local, README "Run a pipeline locally"): the package's one command. It bundles
// aws-local-stepfunctions (MIT, a devDependency) with the Promise.withResolvers polyfill it needs on Node 20, so the
// library gains no runtime dependency. That package imports the Lambda SDK to call real functions for task states
// without a local handler; the runner gives every task state a handler, so those imports are replaced by a stub that
// refuses (src/local/no-aws.ts): the bundle cannot reach AWS, and stays small.
project.bundler.addBundle('src/local/cli.ts', {
  platform: 'node',
  target: 'node20',
  watchTask: false,
  banner: '#!/usr/bin/env node',
  executable: true,
  keepNames: true,
  mainFields: ['module', 'main'],
  metafile: true,
  esbuildArgs: {
    '--minify-whitespace': true,
    '--minify-syntax': true,
    '--alias:@aws-sdk/client-lambda': './src/local/no-aws.ts',
    '--alias:@aws-sdk/credential-providers': './src/local/no-aws.ts',
  },
});
project.package.addBin({ 'shell-script-pipeline': 'assets/local/cli/index.js' });
project.tasks.tryFind('bundle:local/cli')!.exec('node projenrc/third-party-notices.js assets/local/cli/index.js');

// Tests run the bundled runtime as a real child process, so the test task builds it first: the only bundle step
// of a build. The npm package must carry the bundles, so packaging refuses to run without them.
const testTask = project.tasks.tryFind('test')!;
testTask.prependSpawn(project.bundler.bundleTask);
project.tasks.tryFind('package:js')!.prependExec('node projenrc/require-bundles.js');

// projen's dev config includes '**/*.ts' from its folder; at the root that would type-check lib/ and cdk.out too.
project.tsconfigDev.file.addOverride('include', ['src/**/*.ts', 'test/**/*.ts', 'example/**/*.ts', 'bench/**/*.ts', 'projenrc/**/*.ts', '.projenrc.ts']);

// Editors (TypeScript 6 tsserver) and eslint's project service take the nearest tsconfig.json, so each folder
// outside the jsii build gets one that extends the root tsconfig.dev.json.
for (const dir of ['test', 'src/runtime', 'src/local', 'src/log-forwarder', 'example', 'bench']) {
  const up = dir.split('/').map(() => '..').join('/');
  new JsonFile(project, `${dir}/tsconfig.json`, {
    obj: {
      extends: `${up}/tsconfig.dev.json`,
      compilerOptions: { noEmit: true, rootDir: up },
      include: ['**/*.ts', `${up}/src/protocol/*.ts`],
      exclude: ['node_modules', 'cdk.out'],
    },
  });
}

// Each concept in one home, and no way back: no import cycles anywhere, the job-side runtime and the log forwarder see
// only the shared protocol (each is bundled on its own and must not pull in aws-cdk-lib), and the protocol imports
// nothing of ours.
project.eslint!.addRules({
  'import/no-cycle': ['error', { ignoreExternal: true }],
  'import/no-restricted-paths': [
    'error',
    {
      zones: [
        { target: './src/runtime', from: './src', except: ['./runtime', './protocol'], message: 'The runtime may import only src/protocol.' },
        // The state names are plain constants (no imports): the local runner finds a pipeline's states by them.
        {
          target: './src/local',
          from: './src',
          except: ['./local', './protocol', './workflow/states.ts'],
          message: 'The local runner is bundled on its own; it may import only src/protocol and src/workflow/states.',
        },
        { target: './src/log-forwarder', from: './src', except: ['./log-forwarder', './protocol'], message: 'The log forwarder may import only src/protocol.' },
        { target: './src/protocol', from: './src', except: ['./protocol'], message: 'src/protocol is shared by construct and runtime and imports nothing of ours.' },
        { target: ['./src/*.ts', './src/!(runtime|local)/**'], from: ['./src/runtime', './src/local'], message: 'Construct code must not import the runtime; it ships as a bundled asset.' },
        { target: ['./src/*.ts', './src/!(log-forwarder)/**'], from: './src/log-forwarder', message: 'Construct code must not import the log forwarder; it ships as a bundled asset.' },
      ],
    },
  ],
});
// PyPI and Maven Central are unreachable from the build machines, so packaging builds the npm tarball
// and then proves the Python and Java bindings generate (and the Python byte-compiles).
// package:python and package:java stay defined for a release machine that can reach those registries.
// Snippets compile against rosetta/*.ts-fixture: `default` puts a docstring example inside a stack's constructor,
// `app` takes a whole app with its own imports (the README quick start).
project.addTask('rosetta:extract', {
  description: 'Compile and translate the README and docstring snippets (jsii-rosetta extract --strict)',
  steps: [{ exec: 'jsii-rosetta extract --strict' }],
});
// After compile (and docgen), so the tests can check the README's generated Python and Java quick starts.
project.postCompileTask.spawn(project.tasks.tryFind('rosetta:extract')!);
project.addTask('readme:quickstarts', {
  description: "Rewrite the README's Python and Java quick starts from the rosetta tablet",
  steps: [{ spawn: 'rosetta:extract' }, { exec: 'ts-node --project projenrc/tsconfig.json projenrc/quickstarts.ts' }],
});
project.addTask('readme:diagram', {
  description: "Redraw the README's workflow diagram from the synthesized definitions",
  steps: [
    { exec: 'ts-node --project test/tsconfig.json test/docs/diagram.ts' },
    // The "Chaining and fan-out" section's diagram: the example's parent workflow (example/etl.ts).
    { exec: 'ts-node --project test/tsconfig.json test/docs/chaining-diagram.ts' },
  ],
});
const bindingsCheck = project.addTask('package:bindings-codeonly', {
  description: 'Generate Python and Java binding sources with jsii-pacmak --code-only and byte-compile the Python',
  steps: [
    { exec: 'rm -rf dist/codeonly' },
    // Translate every README and docstring snippet first (strict: a snippet that does not compile fails the build),
    // so the Python and Java READMEs and docstrings show Python and Java, not TypeScript.
    // The tablet comes from post-compile; a package run on its own makes it.
    { exec: 'test -f .jsii.tabl.json || jsii-rosetta extract --strict' },
    { exec: 'jsii-pacmak --code-only --rosetta-tablet .jsii.tabl.json --target python --target java -o dist/codeonly' },
    { exec: 'python3 -m compileall -q dist/codeonly/python/src' },
  ],
});
const packageTask = project.tasks.tryFind('package')!;
packageTask.reset();
packageTask.spawn(project.tasks.tryFind('package:js')!);
packageTask.spawn(bindingsCheck);
const packageAll = project.tasks.tryFind('package-all')!;
packageAll.reset();
packageAll.spawn(project.tasks.tryFind('package:js')!);
packageAll.spawn(bindingsCheck);

// The main job with no AWS account: synthesize the example app, describe what it would deploy, then run it locally
// with the package's `local` command: one run that succeeds and one that fails (expected; example/local-runs.ts checks
// both exit statuses, so the task fails only when a run does not end as it should).
project.addTask('example', {
  description: 'Synthesize the example app (no AWS account needed), summarize the template, and run the pipeline locally twice (one success, one expected failure)',
  steps: [
    { spawn: project.bundler.bundleTask.name },
    { exec: 'ts-node --project example/tsconfig.json example/app.ts' },
    { exec: 'ts-node --project example/tsconfig.json example/local-runs.ts' },
  ],
});

// The npm package ships lib/, the runtime bundle in assets/ and the docs; not the CI, example or bench code.
for (const dir of ['/.ci/', '/example/', '/bench/', '/rosetta/']) project.addPackageIgnore(dir);

// ---- Integration test on a real account (test/integ.shell-script-pipeline.ts, README "Integration test on a real account")
// integ-runner compares only the test stack's template with the committed snapshot, with asset hashes replaced by
// placeholders, so a change to the runtime bundle alone does not make the snapshot stale; any template change does.
// ts-node only runs the app: type-checking it is tsc's job (test/tsconfig.json), and skipping it saves about 25 s.
const integEnv = { TS_NODE_TRANSPILE_ONLY: '1' };
const integRunner = 'integ-runner --language typescript';
// The test task has built the bundles just before it spawns this check, so the check only requires them: the bundles
// are built once per build.
const integSnapshotCheck = project.addTask('integ:snapshot-check', {
  description: 'Offline: synthesize the integration test and fail if its stack differs from the committed snapshot (asset hashes ignored)',
  env: integEnv,
  steps: [{ exec: 'node projenrc/require-bundles.js' }, { exec: integRunner }],
});
project.addTask('integ:snapshot-update', {
  description: 'Offline: rewrite the committed integration test snapshot after an intended change (deploys nothing)',
  env: integEnv,
  steps: [{ spawn: project.bundler.bundleTask.name }, { exec: `${integRunner} --update-on-failed --dry-run` }],
});
project.addTask('integ:deploy', {
  description:
    'Needs AWS credentials: deploy the integration test (us-east-1 unless --parallel-regions <region>), run every case, print the outputs, destroy',
  env: integEnv,
  receiveArgs: true,
  // --force deploys even when the snapshot is current; -vv prints the deployment, including the BootPhases output.
  steps: [{ spawn: project.bundler.bundleTask.name }, { exec: `${integRunner} --update-on-failed --force -vv`, receiveArgs: true }],
});
testTask.spawn(integSnapshotCheck);

project.addTask('bench', {
  description: 'Print size and speed figures (synth time, template size, runtime bundle size, heartbeat overhead)',
  steps: [{ spawn: project.bundler.bundleTask.name }, { exec: 'ts-node --project bench/tsconfig.json bench/bench.ts' }],
});

project.synth();

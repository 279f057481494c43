/**
 * `shell-script-pipeline local`: runs a pipeline's synthesized state machine on this machine, no AWS account needed.
 * Bundled with esbuild into assets/local/cli/index.js (the package's bin); see README "Run a pipeline locally".
 */
import './polyfills';
import * as fs from 'fs';
import * as path from 'path';
import { mermaidDiagram } from './diagram';
import { runLocally } from './run';
import { pickPipeline, readPipelines, UsageError } from './template';

export const USAGE = `Usage: shell-script-pipeline local --template <file> --bucket-dir <dir> --input <json> [options]
       shell-script-pipeline local --template <file> --diagram [--pipeline <name>]`;

export const HELP = `${USAGE}

Runs a pipeline's synthesized run state machine (from the CloudFormation template cdk synth writes) in a local
Step Functions interpreter. The instance is a temporary folder where the template's own user data and heartbeat
runtime run the script from --bucket-dir, as you, with no isolation. No AWS account or credentials are used.

Options:
  --template <file>    the stack's template, e.g. cdk.out/MyStack.template.json
  --bucket-dir <dir>   a folder that stands for the job bucket (copied; the copy is what the run reads and writes)
  --input <json>       the execution input, e.g. '{"script":"jobs/nightly.sh","args":["2026-01-01"]}'
  --pipeline <name>    which pipeline, when the template has several (its construct path, e.g. Nightly)
  --name <name>        the execution name (default local-<random>)
  --keep               keep the temporary folder (instance files, the run's logs in the bucket copy)
  --diagram            print the pipeline's workflow as a Mermaid flowchart and exit
  -h, --help           this help

Exit status: 0 when the execution SUCCEEDED, 1 when it FAILED, 2 on a usage error.`;

/** What main writes to; tests pass their own. */
export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

const FLAGS = new Set(['--keep', '--diagram', '--help', '-h']);
const VALUED = new Set(['--template', '--bucket-dir', '--input', '--pipeline', '--name']);

/** Runs the command; resolves to the exit status. `argv` is what follows the program name. */
export async function main(argv: string[], io: Io = { out: (l) => console.log(l), err: (l) => console.error(l) }): Promise<number> {
  try {
    const [command, ...rest] = argv;
    if (command === '--help' || command === '-h') {
      io.out(HELP);
      return 0;
    }
    if (command !== 'local') throw new UsageError(command === undefined ? 'no command given' : `unknown command '${command}'`);
    const opts = parseArgs(rest);
    if (opts['--help'] || opts['-h']) {
      io.out(HELP);
      return 0;
    }
    const template = required(opts, '--template');
    const pipelines = readPipelines(template);
    const pipeline = pickPipeline(pipelines, opts['--pipeline'] as string | undefined, template);
    if (opts['--diagram']) {
      io.out('```mermaid');
      io.out(mermaidDiagram(pipeline.definition));
      io.out('```');
      if (pipeline.cleanup) {
        io.out('');
        io.out('```mermaid');
        io.out(mermaidDiagram(pipeline.cleanup));
        io.out('```');
      }
      return 0;
    }
    const bucketDir = required(opts, '--bucket-dir');
    if (!fs.existsSync(bucketDir) || !fs.statSync(bucketDir).isDirectory()) throw new UsageError(`--bucket-dir: ${bucketDir} is not a folder`);
    const inputText = required(opts, '--input');
    let input: unknown;
    try {
      input = JSON.parse(inputText);
    } catch (e) {
      throw new UsageError(`--input is not JSON (${(e as Error).message}): ${inputText}`);
    }
    if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new UsageError('--input must be a JSON object, like \'{"script":"jobs/nightly.sh"}\'');
    const name = (opts['--name'] as string | undefined) ?? `local-${Math.random().toString(36).slice(2, 10)}`;
    const r = await runLocally({
      templateFile: template,
      pipeline,
      bucketDir: path.resolve(bucketDir),
      input,
      executionName: name,
      out: io.out,
      keep: opts['--keep'] === true,
      fallbackRuntime: path.join(__dirname, '..', '..', 'runtime', 'cli', 'heartbeat.js'),
    });
    return r.status === 'SUCCEEDED' ? 0 : 1;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`shell-script-pipeline: ${e.message}`);
      io.err(USAGE);
      io.err("Run 'shell-script-pipeline local --help' for the options.");
      return 2;
    }
    io.err(`shell-script-pipeline: ${(e as Error).stack ?? String(e)}`);
    return 1;
  }
}

function parseArgs(args: string[]): Record<string, string | true> {
  const opts: Record<string, string | true> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (FLAGS.has(a)) {opts[a] = true;} else if (VALUED.has(a)) {
      if (i + 1 >= args.length) throw new UsageError(`${a} needs a value`);
      opts[a] = args[++i];
    } else {throw new UsageError(`unknown option '${a}'`);}
  }
  return opts;
}

function required(opts: Record<string, string | true>, name: string): string {
  const v = opts[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`${name} is required`);
  return v;
}

if (require.main === module) {
  // Exit as soon as the run is over: a task the run abandoned (a timed-out wait) must not keep the process alive.
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}

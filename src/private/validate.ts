import { Token } from 'aws-cdk-lib';
import { userPrefixProblem } from '../parts/job-bucket';
import { ENV_NAME_PATTERN, MAX_ARGS, RESERVED_PREFIX } from '../protocol';

/**
 * The prop values the checks look at. A plain structure, so the checks can be unit-tested
 * without building a construct.
 */
export interface PropsToValidate {
  /** Prefixes of the job bucket the construct reads or writes for the user, by prop name. */
  readonly bucketPrefixes?: { [prop: string]: string };
  /** The schedule's fixed input, when there is a schedule. */
  readonly scheduleInput?: {
    readonly script?: string;
    readonly userInput?: string;
    readonly args?: string[];
    readonly env?: { [name: string]: string };
  };
}


/**
 * Checks the props and returns every problem, each naming the prop, the value received and the fix.
 * Values that are still tokens are not checked.
 */
export function validateProps(p: PropsToValidate): string[] {
  const problems: string[] = [];

  if (p.scheduleInput) problems.push(...checkJobInput(p.scheduleInput));
  for (const [prop, prefix] of Object.entries(p.bucketPrefixes ?? {})) {
    const problem = userPrefixProblem(prop, prefix);
    if (problem) problems.push(problem);
  }
  return problems;
}

/** The same rules the state machine applies to an execution's input, checked at synth for a schedule's fixed input. */
function checkJobInput(input: NonNullable<PropsToValidate['scheduleInput']>): string[] {
  const problems: string[] = [];
  const has = (v: unknown) => v !== undefined;
  if (has(input.script) === has(input.userInput)) {
    problems.push("'schedule.input' needs exactly one of 'script' (a key in the job bucket) or 'userInput' (bash text)");
  }
  if (input.script !== undefined && !Token.isUnresolved(input.script)) {
    if (input.script === '' || input.script.startsWith(RESERVED_PREFIX) || input.script.startsWith('/') || input.script.includes('..')) {
      problems.push(`'schedule.input.script' must be a key in the job bucket outside '${RESERVED_PREFIX}', without a leading '/' or '..', got '${input.script}'`);
    }
  }
  if (input.userInput !== undefined && !Token.isUnresolved(input.userInput) && input.userInput === '') {
    problems.push("'schedule.input.userInput' must not be empty");
  }
  if (input.args && input.args.length > MAX_ARGS) problems.push(`'schedule.input.args' may hold at most ${MAX_ARGS} strings, got ${input.args.length}`);
  for (const name of Object.keys(input.env ?? {})) {
    if (!ENV_NAME_PATTERN.test(name)) {
      problems.push(`'schedule.input.env' has '${name}', which is not an environment variable name (letters, digits and _, not starting with a digit)`);
    }
  }
  return problems;
}

import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { INPUT_ERRORS, MAX_ARGS, MAX_ENV, RESERVED_ENV_NAMES, RESERVED_ENV_PREFIXES, RESERVED_PREFIX, STARTED_BY_FIELD } from '../protocol';
import { attemptInput } from './run-state';
import { INPUT_STATES, STATES, VALIDATION_STATES } from './states';

/** The fields an execution input may have. After the checks, every one of them is present. */
export const INPUT_FIELDS = ['script', 'userInput', 'args', 'env'] as const;

/**
 * Fields an execution input may also have, set by a parent workflow (run-job.ts): `shard` (a fan-out run's shard,
 * exported to the job as SSP_SHARD_*) and Step Functions' STARTED_BY_FIELD (links a nested run to its parent in the
 * console). Both are defaulted before the fields are counted; `shard` is kept (`{}` when absent), STARTED_BY_FIELD dropped.
 */
export const PARENT_INPUT_FIELDS = ['shard', STARTED_BY_FIELD] as const;

/**
 * What the run hands the input validation state machine: the execution input as it came (`input`: it may not even be
 * an object) and the subnets the first attempt launches in. Wrapping the input keeps the validation's own input an
 * object whatever the caller sent.
 */
export interface ValidationRequest {
  readonly input: unknown;
  readonly subnets: string[];
}

export interface InputChecksProps {
  /** How many subnets the request's `subnets` holds: the first attempt starts in a random one of them. */
  readonly subnets: number;
}

/**
 * The execution-input checks, the definition of the input validation state machine (validation.ts). Its input is a
 * {@link ValidationRequest}. Bad input ends in a Fail state whose error is one of INPUT_ERRORS (`Input.*`) with a cause
 * that says what to fix; valid input ends in "Valid input", whose output is the run's state for its first attempt: the
 * input normalized (every field of INPUT_FIELDS present: `script` or `userInput` is "" when the other one is used,
 * `args` defaults to [] and `env` to {}), the subnets, attempt 1 and a fresh launch token.
 */
export class InputChecks extends sfn.StateMachineFragment {
  public readonly startState: sfn.State;
  public readonly endStates: sfn.INextable[];

  constructor(scope: Construct, id: string, props: InputChecksProps) {
    super(scope, id);
    const S = INPUT_STATES;
    const valid = new sfn.Pass(this, S.VALID_INPUT, {
      comment: 'The input is valid: the run state of the first attempt',
      parameters: { ...attemptInput(1, props.subnets), 'subnets.$': '$$.Execution.Input.subnets' },
    });
    this.endStates = [valid];

    const inputError = (stateName: string, error: string, cause: string) => new sfn.Fail(this, stateName, { error, cause });
    const conflict = inputError(S.CONFLICT, INPUT_ERRORS.CONFLICT, 'Give either "script" (a key in the job bucket) or "userInput" (bash text), not both');
    const invalidUserInput = inputError(S.INVALID_USER_INPUT, INPUT_ERRORS.INVALID_USER_INPUT, '"userInput" must be non-empty bash text');
    const missingScript = inputError(
      S.MISSING_SCRIPT,
      INPUT_ERRORS.MISSING_SCRIPT,
      'The execution input needs "script": the key of a shell script in the job bucket, e.g. {"script": "jobs/nightly.sh", "args": ["2026-01-01"]} ' +
        '(or "userInput": bash text, as in the Data Pipeline sample)',
    );
    const reservedKey = inputError(
      S.RESERVED_KEY,
      INPUT_ERRORS.RESERVED_KEY,
      `"script" must not be under "${RESERVED_PREFIX}", start with "/" or contain "..": that part of the bucket belongs to the pipeline`,
    );
    const unknownFields = inputError(
      S.UNKNOWN_FIELDS,
      INPUT_ERRORS.UNKNOWN_FIELDS,
      `The execution input accepts only ${[...INPUT_FIELDS, ...PARENT_INPUT_FIELDS].map((f) => `"${f}"`).join(', ')}; ` +
        'remove the other fields (a misspelt field would otherwise be ignored)',
    );
    const invalidShard = inputError(
      S.INVALID_SHARD,
      INPUT_ERRORS.INVALID_SHARD,
      '"shard" (set by a fan-out) must be an object with a numeric "index" and "count" and a "value", e.g. {"index": 0, "count": 3, "value": "part-0"}',
    );
    // ---- shard (fan-out runs): {} or {index, count, value} ---------------------------------------------
    const shardCheck = new sfn.Pass(this, S.SHARD_AS_JSON, { parameters: { 'json.$': 'States.JsonToString($.shard)' }, resultPath: '$.shardCheck' }).next(
      new sfn.Choice(this, S.SHARD_VALID)
        .when(sfn.Condition.stringEquals('$.shardCheck.json', '{}'), valid)
        .when(
          sfn.Condition.and(
            sfn.Condition.stringMatches('$.shardCheck.json', '{*'),
            sfn.Condition.isPresent('$.shard.index'),
            sfn.Condition.isNumeric('$.shard.index'),
            sfn.Condition.isPresent('$.shard.count'),
            sfn.Condition.isNumeric('$.shard.count'),
            sfn.Condition.isPresent('$.shard.value'),
          ),
          valid,
        )
        .otherwise(invalidShard),
    );
    const invalidArgs = inputError(S.INVALID_ARGS, INPUT_ERRORS.INVALID_ARGS, '"args" must be a list of strings, e.g. ["--date", "2026-01-01"]');
    const tooManyArgs = inputError(S.TOO_MANY_ARGS, INPUT_ERRORS.TOO_MANY_ARGS, `"args" may hold at most ${MAX_ARGS} strings`);
    const invalidEnv = inputError(S.INVALID_ENV, INPUT_ERRORS.INVALID_ENV, '"env" must be an object of string values, e.g. {"STAGE": "prod"}');
    const tooManyEnv = inputError(S.TOO_MANY_ENV, INPUT_ERRORS.TOO_MANY_ENV, `"env" may hold at most ${MAX_ENV} variables`);
    const reservedEnvName = inputError(
      S.RESERVED_ENV_NAME,
      INPUT_ERRORS.RESERVED_ENV_NAME,
      `"env" must not set ${RESERVED_ENV_NAMES.join(', ')} or a name starting with ${RESERVED_ENV_PREFIXES.join(' or ')}: ` +
        'they change how the shell, the loader or the pipeline runtime work rather than pass a value to the script',
    );

    // A Map whose items fail unless they are strings; its failure goes to `whenNot`. Express state machines are billed
    // by duration, not by state, so the items are checked at once rather than one by one.
    type MapIds = { map: string; item: string; ok: string; notOk: string };
    const allStrings = (ids: MapIds, itemsPath: string, error: string, what: string, whenNot: sfn.IChainable) => {
      const map = new sfn.Map(this, ids.map, {
        comment: `Fails unless every ${what} is a string`,
        itemsPath,
        resultPath: sfn.JsonPath.DISCARD,
      });
      map.itemProcessor(
        new sfn.Choice(this, ids.item)
          .when(sfn.Condition.isString('$'), new sfn.Pass(this, ids.ok))
          .otherwise(new sfn.Fail(this, ids.notOk, { error, cause: `an ${what} is not a string` })),
      );
      map.addCatch(whenNot, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
      return map;
    };

    // ---- env: an object of at most MAX_ENV strings, none under a reserved name ------------------------
    // Exact names are fields to look up. A name's prefix can only be seen in the object's JSON text (States.JsonToString
    // of `env`): a name starts right after "{" or ",", while a value starts after ":" and a quote inside a value is
    // escaped as \", so `,"LD_` is always a name. Both the compact form and one space after the separator are covered.
    const namesAllowed = new sfn.Choice(this, S.ENV_NAMES_ALLOWED)
      .when(
        sfn.Condition.or(
          ...RESERVED_ENV_NAMES.map((name) => sfn.Condition.isPresent(`$.env.${name}`)),
          ...RESERVED_ENV_PREFIXES.flatMap((prefix) =>
            ['{"', '{ "', '*,"', '*, "'].map((before) => sfn.Condition.stringMatches('$.envCheck.json', `${before}${prefix}*`)),
          ),
        ),
        reservedEnvName,
      )
      .otherwise(shardCheck);
    const checkEnv = allStrings(
      { map: S.CHECK_ENV, item: S.CHECK_ENV_VALUE, ok: S.ENV_VALUE_OK, notOk: S.ENV_VALUE_NOT_STRING },
      '$.envCheck.values',
      INPUT_ERRORS.INVALID_ENV,
      'env value',
      invalidEnv,
    );
    checkEnv.next(namesAllowed);
    // Choice rules cannot tell an object from a list, but the object's JSON text starts with "{".
    // "$.env.*" on an empty object matches nothing, which is an error, so {} skips the value checks.
    const envAsJson = new sfn.Pass(this, S.ENV_AS_JSON, { parameters: { 'json.$': 'States.JsonToString($.env)' }, resultPath: '$.envCheck' }).next(
      new sfn.Choice(this, S.ENV_IS_OBJECT)
        .when(sfn.Condition.stringEquals('$.envCheck.json', '{}'), shardCheck)
        .when(
          sfn.Condition.stringMatches('$.envCheck.json', '{*'),
          new sfn.Pass(this, S.ENV_VALUES, { parameters: { 'json.$': '$.envCheck.json', 'values.$': '$.env.*' }, resultPath: '$.envCheck' })
            .next(
              new sfn.Pass(this, S.COUNT_ENV, {
                parameters: { 'json.$': '$.envCheck.json', 'values.$': '$.envCheck.values', 'count.$': 'States.ArrayLength($.envCheck.values)' },
                resultPath: '$.envCheck',
              }),
            )
            .next(
              new sfn.Choice(this, S.ENV_NOT_TOO_MANY)
                .when(sfn.Condition.numberGreaterThan('$.envCheck.count', MAX_ENV), tooManyEnv)
                .otherwise(checkEnv),
            ),
        )
        .otherwise(invalidEnv),
    );

    // ---- args: a list of at most MAX_ARGS strings ---------------------------------------------------
    const checkArgs = allStrings(
      { map: S.CHECK_ARGS, item: S.CHECK_ARG, ok: S.ARG_OK, notOk: S.ARG_NOT_STRING },
      '$.args',
      INPUT_ERRORS.INVALID_ARGS,
      'arg',
      invalidArgs,
    );
    checkArgs.next(envAsJson);
    const argsAsJson = new sfn.Pass(this, S.ARGS_AS_JSON, { parameters: { 'json.$': 'States.JsonToString($.args)' }, resultPath: '$.argsCheck' }).next(
      new sfn.Choice(this, S.ARGS_IS_LIST)
        .when(
          sfn.Condition.stringMatches('$.argsCheck.json', '[*'),
          new sfn.Pass(this, S.COUNT_ARGS, { parameters: { 'count.$': 'States.ArrayLength($.args)' }, resultPath: '$.argsCheck' }).next(
            new sfn.Choice(this, S.ARGS_NOT_TOO_MANY)
              .when(sfn.Condition.numberGreaterThan('$.argsCheck.count', MAX_ARGS), tooManyArgs)
              .otherwise(checkArgs),
          ),
        )
        .otherwise(invalidArgs),
    );

    // ---- no unknown field; then every known field present ------------------------------------------
    // The other of script/userInput becomes "". (A whole-state Parameters, not Result: "", which some
    // interpreters take for "no Result".)
    const normalize = new sfn.Choice(this, S.RUN_KIND)
      .when(
        sfn.Condition.isPresent('$.userInput'),
        new sfn.Pass(this, S.NO_SCRIPT_KEY, {
          parameters: { 'script': '', 'userInput.$': '$.userInput', 'args.$': '$.args', 'env.$': '$.env', 'shard.$': '$.shard' },
        }).next(argsAsJson),
      )
      .otherwise(
        new sfn.Pass(this, S.NO_USER_INPUT, {
          parameters: { 'script.$': '$.script', 'userInput': '', 'args.$': '$.args', 'env.$': '$.env', 'shard.$': '$.shard' },
        }).next(argsAsJson),
      );
    // Choice rules cannot list an object's keys, but "$.*" collects its values: count them. With args and env
    // defaulted (and PARENT_INPUT_FIELDS), a valid input has exactly one field fewer than INPUT_FIELDS and
    // PARENT_INPUT_FIELDS together (script or userInput).
    const countFields = new sfn.Pass(this, S.COUNT_FIELDS, { parameters: { 'values.$': '$.*' }, resultPath: '$.fieldCheck' })
      .next(new sfn.Pass(this, S.COUNT_FIELDS_2, { parameters: { 'count.$': 'States.ArrayLength($.fieldCheck.values)' }, resultPath: '$.fieldCheck' }))
      .next(
        new sfn.Choice(this, S.KNOWN_FIELDS_ONLY)
          // "$.*" was taken before fieldCheck existed: only the input's own fields count.
          .when(sfn.Condition.numberGreaterThan('$.fieldCheck.count', INPUT_FIELDS.length + PARENT_INPUT_FIELDS.length - 1), unknownFields)
          .otherwise(normalize),
      );
    // Not(IsPresent) rather than IsPresent:false, which some ASL interpreters get wrong.
    const absent = (path: string) => sfn.Condition.not(sfn.Condition.isPresent(path));
    // A run started by another workflow (run-job.ts) may carry STARTED_BY_FIELD and `shard`: default both, so the count
    // below stays exact. STARTED_BY_FIELD must be a string (the parent's execution ARN); Step Functions sets it.
    const defaultStartedBy = new sfn.Choice(this, S.HAS_STARTED_BY)
      .when(
        absent(`$.${STARTED_BY_FIELD}`),
        new sfn.Pass(this, S.DEFAULT_STARTED_BY, { result: sfn.Result.fromString('none'), resultPath: `$.${STARTED_BY_FIELD}` }).next(countFields),
      )
      .when(sfn.Condition.isString(`$.${STARTED_BY_FIELD}`), countFields)
      .otherwise(unknownFields);
    const defaultShard = new sfn.Choice(this, S.HAS_SHARD)
      .when(absent('$.shard'), new sfn.Pass(this, S.DEFAULT_SHARD, { result: sfn.Result.fromObject({}), resultPath: '$.shard' }).next(defaultStartedBy))
      .otherwise(defaultStartedBy);
    const defaultEnv = new sfn.Choice(this, S.HAS_ENV)
      .when(absent('$.env'), new sfn.Pass(this, S.DEFAULT_ENV, { result: sfn.Result.fromObject({}), resultPath: '$.env' }).next(defaultShard))
      .otherwise(defaultShard);
    const defaultArgs = new sfn.Choice(this, S.HAS_ARGS)
      .when(absent('$.args'), new sfn.Pass(this, S.DEFAULT_ARGS, { result: sfn.Result.fromArray([]), resultPath: '$.args' }).next(defaultEnv))
      .otherwise(defaultEnv);

    // ---- script or userInput ------------------------------------------------------------------------
    // InputPath unwraps the request: from here on the state is the execution input itself.
    const present = (path: string) => sfn.Condition.isPresent(path);
    this.startState = new sfn.Choice(this, S.CHECK_INPUT, {
      comment: 'Execution input: {"script": "<key in the job bucket>", "args": ["..."], "env": {"NAME": "value"}} or {"userInput": "<bash>"}',
      inputPath: '$.input',
    })
      .when(sfn.Condition.and(present('$.script'), present('$.userInput')), conflict)
      .when(
        present('$.userInput'),
        new sfn.Choice(this, S.VALID_USER_INPUT)
          .when(sfn.Condition.and(sfn.Condition.isString('$.userInput'), sfn.Condition.not(sfn.Condition.stringEquals('$.userInput', ''))), defaultArgs)
          .otherwise(invalidUserInput),
      )
      .when(sfn.Condition.not(sfn.Condition.and(present('$.script'), sfn.Condition.isString('$.script'))), missingScript)
      .when(
        sfn.Condition.or(
          sfn.Condition.stringEquals('$.script', ''),
          sfn.Condition.stringMatches('$.script', `${RESERVED_PREFIX}*`),
          sfn.Condition.stringMatches('$.script', '/*'),
          sfn.Condition.stringMatches('$.script', '*..*'),
        ),
        reservedKey,
      )
      .otherwise(defaultArgs);
  }
}

/**
 * Errors of the StartSyncExecution call itself worth another try. Step Functions names an SDK integration's error
 * `<Service>.<Error>`, and an error the service's API model does not declare (throttling is not declared in Step
 * Functions' model) as the generic `<Service>Exception` (test/fixtures/aws/ec2-error-naming-sfn-sdk-integration.json).
 */
export const VALIDATE_RETRY_ERRORS = ['Sfn.SfnException', 'Sfn.ThrottlingException'] as const;

export interface ValidateInputProps {
  /** The input validation state machine (validation.ts), whose definition is {@link InputChecks}. */
  readonly validation: sfn.IStateMachine;
  /** The subnets to launch in, in order of preference. */
  readonly subnetIds: string[];
  /**
   * Where invalid input goes, with `$.error` = {Error: Input.*, Cause} and `$.instance.InstanceId` = "none" (the whole
   * state is replaced: the input may not even be an object).
   */
  readonly onInvalid: sfn.IChainable;
}

/**
 * The run's first steps: one synchronous call of the input validation state machine, then its answer. Valid input
 * ends in "Prepare run" with the first attempt's state; bad input goes to `onInvalid` with the validation's `Input.*`
 * error and cause, before anything is launched.
 *
 * Every check runs in the Express validation state machine, billed per request and duration, so the run pays the
 * same few state transitions for any input, however many args or env values it checks.
 */
export class ValidateInput extends sfn.StateMachineFragment {
  public readonly startState: sfn.State;
  public readonly endStates: sfn.INextable[];

  constructor(scope: Construct, id: string, props: ValidateInputProps) {
    super(scope, id);
    const S = VALIDATION_STATES;
    // "For nested Express Workflows, arn:aws:states:::states:startExecution.sync isn't currently supported. Use
    // arn:aws:states:::aws-sdk:sfn:startSyncExecution instead."
    // (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-access-cross-acct-resources.html)
    // IAM: states:StartSyncExecution on the validation state machine, which CallAwsService grants (sfn maps to states).
    const request: Record<keyof ValidationRequest, unknown> = { input: sfn.JsonPath.entirePayload, subnets: props.subnetIds };
    const validate = new tasks.CallAwsService(this, S.VALIDATE_INPUT, {
      comment: 'Runs every input check in the input validation state machine (Express) and waits for its answer',
      service: 'sfn',
      action: 'startSyncExecution',
      // An object for the API's string `input`: Step Functions serializes JSON parameters of SDK integrations
      // (localstack/localstack#9872 and #10174, which reproduce AWS's behaviour; aws-samples pass objects the same way).
      parameters: { StateMachineArn: props.validation.stateMachineArn, Input: request },
      iamResources: [props.validation.stateMachineArn],
      // No ResultPath: the whole response replaces the state (the default, "$"; aws-local-stepfunctions 3 reads an
      // explicit "$" as a field named "$"). It is {Status, Output} or {Status, Error, Cause}: StartSyncExecution answers
      // 200 OK "even if your execution fails" (API reference, StartSyncExecution), so a rejected input does not fail
      // this task. Output is read only once Status says it is there: a missing path would fail the run uncaught.
      // The validation state machine times out after a minute; this only bounds a call that never returns.
      taskTimeout: sfn.Timeout.duration(Duration.minutes(2)),
    });
    validate.addRetry({
      errors: [...VALIDATE_RETRY_ERRORS],
      interval: Duration.seconds(1),
      backoffRate: 2,
      maxAttempts: 5,
      maxDelay: Duration.seconds(20),
      jitterStrategy: sfn.JitterType.FULL,
    });

    const rejected = (state: sfn.Pass) => state.next(props.onInvalid);
    // The validation's Error and Cause, or the task's own ({Error, Cause} too, from the Catch below).
    const failed = rejected(
      new sfn.Pass(this, S.VALIDATION_FAILED, {
        comment: 'The input failed a check (Input.*), or the validation could not run',
        parameters: { error: { 'Error.$': '$.Error', 'Cause.$': '$.Cause' }, instance: { InstanceId: 'none' }, attempt: 0 },
      }),
    );
    // The error output, {Error, Cause}, replaces the state (a Catch's default ResultPath is "$").
    validate.addCatch(failed, { errors: [sfn.Errors.ALL] });
    // Status is SUCCEEDED, FAILED or TIMED_OUT; Output "is set only if the execution succeeds"; Error and Cause are
    // optional members, and the API reference does not say that a TIMED_OUT answer carries them (API_StartSyncExecution:
    // https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartSyncExecution.html).
    const noResult = rejected(
      new sfn.Pass(this, S.NO_VALIDATION_RESULT, {
        parameters: {
          error: {
            Error: INPUT_ERRORS.NOT_VALIDATED,
            Cause: sfn.JsonPath.format('The input validation ended {} without an answer; nothing was launched', sfn.JsonPath.stringAt('$.Status')),
          },
          instance: { InstanceId: 'none' },
          attempt: 0,
        },
      }),
    );
    const prepare = new sfn.Pass(this, STATES.PREPARE, {
      comment: 'Input is valid: the first attempt, as the validation returned it',
      parameters: { 'run.$': 'States.StringToJson($.Output)' },
      outputPath: '$.run',
    });
    const isString = (path: string) => sfn.Condition.and(sfn.Condition.isPresent(path), sfn.Condition.isString(path));
    validate.next(
      new sfn.Choice(this, S.INPUT_VALID)
        .when(sfn.Condition.stringEquals('$.Status', 'SUCCEEDED'), prepare)
        .when(sfn.Condition.and(isString('$.Error'), isString('$.Cause')), failed)
        .otherwise(noResult),
    );
    this.startState = validate;
    this.endStates = [prepare];
  }
}

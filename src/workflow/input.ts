import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { INPUT_ERRORS, MAX_ARGS, RESERVED_PREFIX } from '../protocol';
import { attemptInput } from './run-state';
import { INPUT_STATES, STATES } from './states';

/** The fields an execution input may have. After the checks, every one of them is present. */
export const INPUT_FIELDS = ['script', 'userInput', 'args', 'env'] as const;

export interface InputChecksProps {
  /** The subnets to launch in, in order of preference. */
  readonly subnetIds: string[];
  /**
   * Where invalid input goes, with `$.error` = {Error: Input.*, Cause} and `$.instance.InstanceId` = "none" (the whole
   * state is replaced: the input may not even be an object).
   */
  readonly onInvalid: sfn.IChainable;
}

/**
 * The execution-input checks, all before anything is launched, then the first attempt. Valid input leaves them
 * normalized (every field of INPUT_FIELDS present: `script` or `userInput` is "" when the other one is used, `args`
 * defaults to [] and `env` to {}), gets the subnets, and ends in "Prepare run" with attempt 1.
 */
export class InputChecks extends sfn.StateMachineFragment {
  public readonly startState: sfn.State;
  public readonly endStates: sfn.INextable[];

  constructor(scope: Construct, id: string, props: InputChecksProps) {
    super(scope, id);
    const subnets = new sfn.Pass(this, STATES.SUBNETS, {
      comment: 'The subnets to launch in, in order of preference',
      result: sfn.Result.fromArray(props.subnetIds),
      resultPath: '$.subnets',
    });
    const prepare = new sfn.Pass(this, STATES.PREPARE, { comment: 'Input is valid: the first attempt', parameters: attemptInput(1, props.subnetIds.length) });
    subnets.next(prepare);
    this.endStates = [prepare];

    const S = INPUT_STATES;
    const inputError = (stateName: string, error: string, cause: string) =>
      new sfn.Pass(this, stateName, { parameters: { error: { Error: error, Cause: cause }, instance: { InstanceId: 'none' }, attempt: 0 } }).next(props.onInvalid);

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
      `The execution input accepts only ${INPUT_FIELDS.map((f) => `"${f}"`).join(', ')}; remove the other fields (a misspelt field would otherwise be ignored)`,
    );
    const invalidArgs = inputError(S.INVALID_ARGS, INPUT_ERRORS.INVALID_ARGS, '"args" must be a list of strings, e.g. ["--date", "2026-01-01"]');
    const tooManyArgs = inputError(S.TOO_MANY_ARGS, INPUT_ERRORS.TOO_MANY_ARGS, `"args" may hold at most ${MAX_ARGS} strings`);
    const invalidEnv = inputError(S.INVALID_ENV, INPUT_ERRORS.INVALID_ENV, '"env" must be an object of string values, e.g. {"STAGE": "prod"}');

    // ---- env: an object of strings ------------------------------------------------------------------
    // A Map whose items fail unless they are strings; its failure goes to `whenNot`.
    type MapIds = { map: string; item: string; ok: string; notOk: string };
    const allStrings = (ids: MapIds, itemsPath: string, error: string, what: string, whenNot: sfn.IChainable) => {
      const map = new sfn.Map(this, ids.map, {
        comment: `Fails unless every ${what} is a string`,
        itemsPath,
        maxConcurrency: 1,
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

    const checkEnv = allStrings(
      { map: S.CHECK_ENV, item: S.CHECK_ENV_VALUE, ok: S.ENV_VALUE_OK, notOk: S.ENV_VALUE_NOT_STRING },
      '$.envCheck.values',
      INPUT_ERRORS.INVALID_ENV,
      'env value',
      invalidEnv,
    );
    checkEnv.next(subnets);
    // Choice rules cannot tell an object from a list, but the object's JSON text starts with "{".
    // "$.env.*" on an empty object matches nothing, which is an error, so {} skips the value check.
    const envAsJson = new sfn.Pass(this, S.ENV_AS_JSON, { parameters: { 'json.$': 'States.JsonToString($.env)' }, resultPath: '$.envCheck' }).next(
      new sfn.Choice(this, S.ENV_IS_OBJECT)
        .when(sfn.Condition.stringEquals('$.envCheck.json', '{}'), subnets)
        .when(
          sfn.Condition.stringMatches('$.envCheck.json', '{*'),
          new sfn.Pass(this, S.ENV_VALUES, { parameters: { 'values.$': '$.env.*' }, resultPath: '$.envCheck' }).next(checkEnv),
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
          parameters: { 'script': '', 'userInput.$': '$.userInput', 'args.$': '$.args', 'env.$': '$.env' },
        }).next(argsAsJson),
      )
      .otherwise(
        new sfn.Pass(this, S.NO_USER_INPUT, {
          parameters: { 'script.$': '$.script', 'userInput': '', 'args.$': '$.args', 'env.$': '$.env' },
        }).next(argsAsJson),
      );
    // Choice rules cannot list an object's keys, but "$.*" collects its values: count them. With args and env
    // defaulted, a valid input has exactly one field fewer than INPUT_FIELDS (script or userInput).
    const countFields = new sfn.Pass(this, S.COUNT_FIELDS, { parameters: { 'values.$': '$.*' }, resultPath: '$.fieldCheck' })
      .next(new sfn.Pass(this, S.COUNT_FIELDS_2, { parameters: { 'count.$': 'States.ArrayLength($.fieldCheck.values)' }, resultPath: '$.fieldCheck' }))
      .next(
        new sfn.Choice(this, S.KNOWN_FIELDS_ONLY)
          // "$.*" was taken before fieldCheck existed: only the input's own fields count.
          .when(sfn.Condition.numberGreaterThan('$.fieldCheck.count', INPUT_FIELDS.length - 1), unknownFields)
          .otherwise(normalize),
      );
    // Not(IsPresent) rather than IsPresent:false, which some ASL interpreters get wrong.
    const absent = (path: string) => sfn.Condition.not(sfn.Condition.isPresent(path));
    const defaultEnv = new sfn.Choice(this, S.HAS_ENV)
      .when(absent('$.env'), new sfn.Pass(this, S.DEFAULT_ENV, { result: sfn.Result.fromObject({}), resultPath: '$.env' }).next(countFields))
      .otherwise(countFields);
    const defaultArgs = new sfn.Choice(this, S.HAS_ARGS)
      .when(absent('$.args'), new sfn.Pass(this, S.DEFAULT_ARGS, { result: sfn.Result.fromArray([]), resultPath: '$.args' }).next(defaultEnv))
      .otherwise(defaultEnv);

    // ---- script or userInput ------------------------------------------------------------------------
    const present = (path: string) => sfn.Condition.isPresent(path);
    this.startState = new sfn.Choice(this, S.VALIDATE_INPUT, {
      comment: 'Execution input: {"script": "<key in the job bucket>", "args": ["..."], "env": {"NAME": "value"}} or {"userInput": "<bash>"}',
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

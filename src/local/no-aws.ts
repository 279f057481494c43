/**
 * Stands in for @aws-sdk/client-lambda and @aws-sdk/credential-providers in the local runner's bundle (esbuild
 * `--alias`). aws-local-stepfunctions imports them to call a real Lambda function for a Task state that has no local
 * handler; the local runner gives every Task state a handler, so they are never used, and this way the bundle cannot
 * reach AWS and stays small.
 */
const refuse = (): never => {
  throw new Error('the local runner never calls AWS: this task state has no local handler');
};

export class LambdaClient {
  constructor() {
    refuse();
  }
}
export class InvokeCommand {
  constructor() {
    refuse();
  }
}
export const fromCognitoIdentityPool = refuse;

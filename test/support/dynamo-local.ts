/// <reference path="../dynalite.d.ts" />
/**
 * A real DynamoDB implementation for the semaphore's tasks: dynalite (in-process, on LevelDB in memory) reached through
 * the real @aws-sdk/client-dynamodb, so conditional updates and ConditionalCheckFailedException behave as DynamoDB's do.
 * `dynamoHandlers()` answers every `arn:aws:states:::dynamodb:*` Task of a definition the way Step Functions' optimized
 * integration does: the task's Parameters are the API request, the API response is the task's result, and a failure
 * is the error `DynamoDB.<error code>` with DynamoDB's message as the cause (the naming in
 * test/fixtures/aws/ddb-conditional-check-failed-sfn.json).
 */
import * as http from 'http';
import type { AddressInfo } from 'net';
import {
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { awsError, Handler } from './local-sfn';

export class LocalDynamo {
  private readonly server = dynalite({ createTableMs: 0, deleteTableMs: 0 });
  private client?: DynamoDBClient;
  private readonly tables = new Map<string, Promise<void>>();
  /** Every request the tasks made, by action. */
  public readonly calls: Record<string, number> = {};
  /** Milliseconds spent waiting for answers, summed over calls (calls overlap, so it can exceed the wall time). */
  public callMs = 0;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    const { port } = this.server.address() as AddressInfo;
    this.client = new DynamoDBClient({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'eu-west-1',
      // Static credentials: the default chain could probe IMDS.
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
      // Hundreds of runs call at once; the default 50 sockets would queue them in the SDK rather than in DynamoDB.
      requestHandler: { httpAgent: new http.Agent({ keepAlive: true, maxSockets: 500 }) },
    });
  }

  async stop(): Promise<void> {
    this.client?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  get sdk(): DynamoDBClient {
    if (!this.client) throw new Error('LocalDynamo not started');
    return this.client;
  }

  /** Creates the table (partition key `pk`, a string) unless it exists. */
  table(name: string, key = 'pk'): Promise<void> {
    let created = this.tables.get(name);
    if (!created) {
      created = this.sdk
        .send(
          new CreateTableCommand({
            TableName: name,
            KeySchema: [{ AttributeName: key, KeyType: 'HASH' }],
            AttributeDefinitions: [{ AttributeName: key, AttributeType: 'S' }],
            BillingMode: 'PAY_PER_REQUEST',
          }),
        )
        .then(() => undefined);
      this.tables.set(name, created);
    }
    return created;
  }

  async getItem(table: string, key: Record<string, any>): Promise<Record<string, any> | undefined> {
    return (await this.sdk.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }))).Item;
  }

  async putItem(table: string, item: Record<string, any>): Promise<void> {
    await this.sdk.send(new PutItemCommand({ TableName: table, Item: item }));
  }

  async deleteItem(table: string, key: Record<string, any>): Promise<void> {
    await this.sdk.send(new DeleteItemCommand({ TableName: table, Key: key }));
  }

  /** One optimized-integration action, called with the task's Parameters. */
  async call(action: 'getItem' | 'putItem' | 'updateItem' | 'deleteItem', params: any): Promise<any> {
    this.calls[action] = (this.calls[action] ?? 0) + 1;
    await this.table(params.TableName);
    const command = {
      getItem: () => new GetItemCommand(params),
      putItem: () => new PutItemCommand(params),
      updateItem: () => new UpdateItemCommand(params),
      deleteItem: () => new DeleteItemCommand(params),
    }[action]();
    const t0 = Date.now();
    try {
      const { $metadata, ...response } = (await this.sdk.send(command as any)) as any;
      void $metadata;
      return response;
    } catch (e: any) {
      // An error DynamoDB sent (it has a service fault or a name from the API); anything else is the test's own fault.
      if (e?.$metadata === undefined) throw e;
      throw awsError(`DynamoDB.${e.name}`, e.message);
    } finally {
      this.callMs += Date.now() - t0;
    }
  }

  /** Handlers for every DynamoDB task of `definition` (Map item processors included), keyed by state name. */
  handlers(definition: any): Record<string, Handler> {
    const out: Record<string, Handler> = {};
    for (const [name, state] of dynamoTasks(definition)) {
      const action = /:::dynamodb:(\w+)$/.exec(state.Resource)![1] as any;
      out[name] = (input: any) => this.call(action, input);
    }
    return out;
  }
}

/** The Task states of `def` whose resource is the optimized DynamoDB integration. */
export function dynamoTasks(def: any, out: Array<[string, any]> = []): Array<[string, any]> {
  for (const [name, state] of Object.entries<any>(def.States ?? {})) {
    if (state.Type === 'Task' && /:::dynamodb:\w+$/.test(state.Resource)) out.push([name, state]);
    for (const inner of [state.ItemProcessor, state.Iterator, ...(state.Branches ?? [])]) if (inner) dynamoTasks(inner, out);
  }
  return out;
}

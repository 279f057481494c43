export { ShellScriptPipeline } from './shell-script-pipeline';
export type { ShellScriptPipelineProps } from './shell-script-pipeline-props';
export type { SpotOptions } from './parts/instance';
export { TaskHandoff } from './parts/handoff';
export type { JobInput, PipelineSchedule } from './parts/schedule';
export type { StagingOptions } from './parts/staging';
export type { RunJobProps } from './workflow/run-job';
export type { FanOutProps } from './workflow/fan-out';

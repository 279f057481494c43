export * from './shell-script-pipeline';
export * from './options';
export type { SpotOptions } from './parts/instance';
export { TaskHandoff } from './parts/handoff';

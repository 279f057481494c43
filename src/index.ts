export * from './shell-script-pipeline';
export * from './options';

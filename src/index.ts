export * from './shell-script-pipeline';

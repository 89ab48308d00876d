#!/usr/bin/env node
/**
 * The `alae` command: one sub-command per job, each in its own file; run.ts
 * dispatches and turns every error into one line and an exit status;
 * signals.ts turns Ctrl-C into exit 130 (or a clean stop of a long job).
 */
import { reportError, runCli } from './run.js';
import { installSignalHandlers } from './signals.js';

installSignalHandlers();

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.exitCode = reportError('alae', e);
  },
);

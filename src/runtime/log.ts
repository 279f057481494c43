/** A logger for the runtime's own messages. */
export type Log = (message: string) => void;

/** The default logger: one line on stderr, prefixed `[heartbeat]`. */
export const stderrLog: Log = (message) => {
  process.stderr.write(`[heartbeat] ${message}\n`);
};

/**
 * A reader that stops early (`maestro expand SPEC | head`) closes the pipe under us. That is how
 * command-line tools are used, not an error: the command ends quietly, as a C tool ended by
 * SIGPIPE would, with no `maestro: write EPIPE`.
 */

/** What the handler needs of the process (a fake one in tests). */
export interface PipeProcess {
  exitCode?: number | string | null | undefined;
  listenerCount(event: 'SIGINT'): number;
  emit(event: 'SIGINT', signal: 'SIGINT'): boolean;
  exit(code?: number): never;
}

/**
 * Ends the command when `stream` (stdout or stderr) finds its reader gone. A command that stops
 * in order on Ctrl-C (run, resume, status --watch) is stopped that way, so that a study stays
 * resumable; any other command exits at once, with the code it has so far (0 by default).
 */
export function endOnClosedPipe(stream: NodeJS.EventEmitter, proc: PipeProcess = process): void {
  let closed = false;
  stream.on('error', (err: NodeJS.ErrnoException) => {
    // Writes after the first failure report the stream destroyed: the same closed pipe.
    if (closed && err.code === 'ERR_STREAM_DESTROYED') return;
    if (err.code !== 'EPIPE') {
      // Another failure (a full disk) is for the other listeners, or as loud as without this one.
      if (stream.listenerCount('error') === 1) throw err;
      return;
    }
    if (closed) return;
    closed = true;
    if (proc.listenerCount('SIGINT') > 0) proc.emit('SIGINT', 'SIGINT');
    else proc.exit(typeof proc.exitCode === 'number' ? proc.exitCode : 0);
  });
}

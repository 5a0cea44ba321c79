import { SessionStoreOutageError } from '../errors.js';

/**
 * Redis did not answer a command within `commandTimeout`, or a guarded write
 * reached Redis after its deadline and was refused there. Either way the
 * write was not applied and will not be applied later. Answers 503 (see
 * `SessionStoreOutageError`).
 */
export class RedisStoreTimeoutError extends SessionStoreOutageError {
  override readonly code = 'ERR_SESSION_STORE_TIMEOUT';
  /**
   * What timed out: `'GET'`, `'SET'`, `'MERGE'`, `'DEL'` or `'PEXPIRE'` (sent
   * as a script when it carries the deadline guard or owner bookkeeping), or
   * for the owner index `'OWNER INDEX'`, `'PTTL'` or `'DEL'`.
   */
  readonly command: string;
  /** The `commandTimeout` in force, in ms. */
  readonly timeoutMs: number;
  constructor(command: string, timeoutMs: number, options?: { cause?: unknown; refused?: boolean }) {
    super(
      options?.refused === true
        ? `RedisStore: ${command} reached Redis after its ${timeoutMs}ms deadline and was refused (not applied); ` +
            'raise the commandTimeout option if Redis is often this slow'
        : `RedisStore: no reply to ${command} within ${timeoutMs}ms; the connection is treated as lost. ` +
            'Raise the commandTimeout option if Redis is often this slow',
      options,
    );
    this.command = command;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The connection to Redis was lost before the command was answered (or could
 * not be made). The command is dropped, not replayed after the reconnect, so
 * a write the request gave up on can never overwrite a newer session. `cause`
 * holds ioredis's own error. Answers 503 (see `SessionStoreOutageError`).
 */
export class RedisStoreConnectionError extends SessionStoreOutageError {
  override readonly code = 'ERR_SESSION_STORE_CONNECTION';
  /** The Redis command that failed. */
  readonly command: string;
  constructor(command: string, options: { cause: unknown }) {
    const reason = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super(
      `RedisStore: ${command} failed because the connection to Redis was lost (${reason}); ` +
        'it was dropped, not retried, so it cannot be applied later',
      options,
    );
    this.command = command;
  }
}

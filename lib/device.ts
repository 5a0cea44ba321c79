import type { DeviceInfo, Session, SessionContext } from './types.js';
import { SessionDescribeError } from './errors.js';
import { isPlainObject } from './session.js';

/**
 * The longest device info recorded, in characters of JSON: it is stored with
 * every session of an owner and sent with each of its writes, so it stays a
 * few short fields (a user agent, an address), never a document.
 */
export const DEVICE_INFO_MAX = 1024;

/**
 * The `describe` option's answer for this save as JSON text, or the error
 * that says why it cannot be recorded.
 */
export function deviceInfo(
  describe: (ctx: SessionContext, session: Session) => DeviceInfo,
  ctx: SessionContext,
  session: Session,
): string | SessionDescribeError {
  let info: unknown;
  try {
    info = describe(ctx, session);
  } catch (err) {
    return new SessionDescribeError(`threw: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  if (!isPlainObject(info)) {
    return new SessionDescribeError(`must return a plain object such as { userAgent, ip }, got ${info === null ? 'null' : Array.isArray(info) ? 'an array' : typeof info}`);
  }
  for (const [name, value] of Object.entries(info)) {
    const type = typeof value;
    if (value !== null && type !== 'string' && type !== 'boolean' && !(type === 'number' && Number.isFinite(value))) {
      return new SessionDescribeError(
        `must return an object of strings, finite numbers, booleans and nulls; "${name}" is ${Array.isArray(value) ? 'an array' : type}`,
      );
    }
  }
  const json = JSON.stringify(info);
  if (json.length > DEVICE_INFO_MAX) {
    return new SessionDescribeError(
      `returned ${json.length} characters of JSON, more than the ${DEVICE_INFO_MAX} it may: shorten the values (e.g. cut the user agent to 256 characters)`,
    );
  }
  return json;
}

/** Device info as recorded (JSON text of a flat object) back to an object; null when absent or unreadable. */
export function parseDeviceInfo(text: string | undefined): DeviceInfo | null {
  if (text === undefined || text === '') return null;
  try {
    const value: unknown = JSON.parse(text);
    return isPlainObject(value) ? (value as DeviceInfo) : null;
  } catch {
    return null;
  }
}

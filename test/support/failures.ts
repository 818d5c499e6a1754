import type { ErrorCode } from '../../src/errors.js';

/** A stand-in for a connection's failure reporter (`status.lastCallbackError`): it keeps what it is told. */
export function failureRecorder() {
  const failures: Array<{ code: ErrorCode; message: string }> = [];
  return { failures, failed: (code: ErrorCode, message: string) => void failures.push({ code, message }) };
}

/** Lets rejection handlers run (they are attached to promises a callback returned). */
export const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

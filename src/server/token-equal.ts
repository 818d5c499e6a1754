/**
 * Token comparison whose running time does not depend on the secret.
 *
 * `a !== b` stops at the first differing character, so the time a wrong guess
 * takes tells an attacker how much of it was right. This loop touches every
 * byte of the presented token whatever it holds, and reads the expected token
 * cyclically, so its time depends only on the length the attacker chose.
 *
 * Pure JavaScript on purpose: `createSyncServer` also runs in the in-memory
 * simulator (`statesocket/testing`), which must not import `node:crypto`.
 */
const encoder = new TextEncoder();

/** True when `presented` equals `expected`, compared in time independent of `expected`'s content. */
export function tokensEqual(presented: string, expected: string): boolean {
  const a = encoder.encode(presented);
  const b = encoder.encode(expected);
  // A length difference is folded into `diff` rather than returned early.
  let diff = a.length ^ b.length;
  if (b.length === 0) return a.length === 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i % b.length] as number);
  return diff === 0;
}

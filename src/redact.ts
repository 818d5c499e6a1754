/**
 * Redaction of secrets in what we show: URLs in status and context, and
 * objects in the inspector. Keys and query parameters named like a credential
 * keep their name and lose their value.
 */

const SECRET_NAME = /token|passw(or)?d|secret|api[-_]?key|auth|credential|session|signature|sig$/i;

export const REDACTED = '[redacted]';

/** True when a key or query parameter name looks like it holds a secret. */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** The URL with its password and credential-like query values replaced. Unparseable input is returned redacted whole. */
export function redactUrl(url: string): string {
  // Every attempt of a connection redacts the same URL on its open path (socket.opened): parsing it again cost
  // ~16 µs of that path's ~190 µs (bench/probes/open-path.ts, issue 15). A pure function: the last answer stands.
  if (url === lastUrl) return lastRedacted;
  lastRedacted = redactUrlOnce(url);
  lastUrl = url;
  return lastRedacted;
}

let lastUrl: string | null = null;
let lastRedacted = '';

function redactUrlOnce(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return REDACTED;
  }
  if (parsed.password) parsed.password = REDACTED;
  for (const name of [...parsed.searchParams.keys()]) {
    if (isSecretName(name)) parsed.searchParams.set(name, REDACTED);
  }
  // URLSearchParams percent-encodes the brackets; keep the marker readable.
  return parsed.toString().replaceAll(encodeURIComponent(REDACTED), REDACTED);
}

/** A deep copy of plain data with secret-named keys and URL strings redacted. */
export function redactValue(value: unknown, depth = 0): unknown {
  if (depth > 50) return '[too deep]';
  if (typeof value === 'string') return /^wss?:\/\//i.test(value) ? redactUrl(value) : value;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1));
  if (value !== null && typeof value === 'object') {
    if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return `[binary ${value.byteLength} bytes]`;
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      out[key] = isSecretName(key) && inner !== null && typeof inner !== 'object' ? REDACTED : redactValue(inner, depth + 1);
    }
    return out;
  }
  return value;
}

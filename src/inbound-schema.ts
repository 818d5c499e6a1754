/**
 * The `inbound` option: a Standard Schema (zod 4, valibot, arktype, or one of
 * your own) that every message the protocol classifies as data must pass
 * before it reaches the Model. The types come from the same schema, so
 * validation and types have one source.
 *
 * A refused message is rejected and counted like an invalid frame
 * (`ERR_INVALID_MESSAGE`, `counters.rejected`, `status.lastRejected`); the
 * Model never sees it. A refused snapshot or patch of a channel also makes
 * that channel `rejected`, as a Model that throws does (docs/channels.md). The Model receives the schema's output value. Only
 * synchronous schemas are supported: a `validate` that returns a Promise
 * (an async refinement) rejects the message with `ERR_INVALID_MESSAGE` and
 * says so, because messages are applied in order, a socket read at a time.
 */
import type { ChannelSupport, InboundEvent, Protocol } from './protocol.js';
import type { StandardSchemaV1 } from './standard-schema.js';
import { describeThrown } from './errors.js';

function pathOf(path: StandardSchemaV1.Issue['path']): string {
  if (path === undefined || path.length === 0) return '';
  return path.map((segment) => String(typeof segment === 'object' ? segment.key : segment)).join('.');
}

/** The issues of a refusal as one line: `path: message; ...`, the first few only. */
function describeIssues(issues: ReadonlyArray<StandardSchemaV1.Issue>): string {
  const shown = issues.slice(0, 5).map((issue) => {
    const at = pathOf(issue.path);
    return at === '' ? issue.message : `${at}: ${issue.message}`;
  });
  return shown.join('; ') + (issues.length > shown.length ? `; and ${issues.length - shown.length} more` : '');
}

const invalid = (message: string): InboundEvent => ({ type: 'message.rejected', code: 'ERR_INVALID_MESSAGE', message });

/** Checks one classified event against the schema: data that passes is replaced by the schema's output. */
function checkEvent(validate: StandardSchemaV1.Props['validate'], event: InboundEvent): InboundEvent {
  // anything but data passes as it is; what is not an event at all is refused after decode (protocol.ts, checkDecoded)
  if ((event as InboundEvent | null | undefined)?.type !== 'message.received') return event;
  const data = (event as Extract<InboundEvent, { type: 'message.received' }>).message;
  let result: ReturnType<typeof validate>;
  try {
    result = validate(data);
  } catch (error) {
    return invalid(`the inbound schema threw: ${describeThrown(error)}`);
  }
  if (result instanceof Promise) {
    result.catch(() => {}); // nobody waits for it
    return invalid('the inbound schema validated asynchronously; statesocket applies messages in order and needs a synchronous schema');
  }
  if (result.issues !== undefined) return invalid(`the inbound schema refused the message: ${describeIssues(result.issues)}`);
  return { type: 'message.received', message: result.value };
}

/**
 * A refused snapshot or patch of a held channel goes to that channel, as a Model's throw does
 * (src/channel.ts, `rejected`): stale (`rejected`, `ERR_INVALID_MESSAGE`), its patches dropped
 * until the fresh snapshot it asks for after a wait. Without this the channel would wait in
 * `subscribing` (its `synced` out of step with a snapshot it never applied) or take patches that
 * no longer fit. Presence frames and other data are only counted.
 */
function refusedData(channels: ChannelSupport | undefined, event: InboundEvent, reason: string, pending: readonly unknown[]): void {
  if (channels === undefined || (event as InboundEvent | null | undefined)?.type !== 'message.received') return;
  const data = (event as Extract<InboundEvent, { type: 'message.received' }>).message;
  channels.receiverOf(data)?.rejected?.(data, reason, 'ERR_INVALID_MESSAGE', pending);
}

/**
 * The protocol with `schema` checking what it classifies as data; the
 * protocol itself when there is no schema (no cost on the hot path then).
 */
export function withInboundSchema<TData, TOut>(protocol: Protocol<TData, TOut>, schema: StandardSchemaV1 | undefined): Protocol<TData, TOut> {
  if (schema === undefined) return protocol;
  const validate = schema['~standard'].validate;
  const checked: Protocol<TData, TOut> = {
    name: protocol.name,
    decode(message, model, pending) {
      const events = protocol.decode(message, model, pending);
      const check = (event: InboundEvent): InboundEvent => {
        const checked = checkEvent(validate, event);
        // a new event only when the schema checked data (anything else, even not an event at all, passes as it is)
        if (checked !== event && checked.type === 'message.rejected') refusedData(protocol.channels, event, checked.message, pending);
        return checked;
      };
      return Array.isArray(events) ? events.map(check) : check(events);
    },
    encode: (message) => protocol.encode(message),
    ...(protocol.ping === undefined ? {} : { ping: protocol.ping }),
  };
  if (protocol.applied !== undefined) checked.applied = (message) => protocol.applied?.(message);
  if (protocol.resync !== undefined) checked.resync = (model) => protocol.resync?.(model);
  if (protocol.greeting !== undefined) checked.greeting = (context, model) => protocol.greeting?.(context, model) ?? [];
  if (protocol.prepare !== undefined) checked.prepare = () => protocol.prepare?.();
  if (protocol.refreshesToken !== undefined) Object.defineProperty(checked, 'refreshesToken', { value: protocol.refreshesToken, enumerable: true });
  if (protocol.channels !== undefined) Object.defineProperty(checked, 'channels', { value: protocol.channels, enumerable: true });
  return checked;
}

/** True when `value` looks like a Standard Schema (has `~standard.validate`). */
export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  if (typeof value !== 'object' && typeof value !== 'function') return false;
  if (value === null) return false;
  const props = (value as { '~standard'?: unknown })['~standard'];
  return typeof props === 'object' && props !== null && typeof (props as { validate?: unknown }).validate === 'function';
}

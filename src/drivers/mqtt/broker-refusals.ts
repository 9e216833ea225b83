/**
 * The refusals aedes decides itself, before any hook of ours sees the packet: a PUBLISH to a wildcard,
 * empty or over-deep topic, an invalid subscription filter, a packet before CONNECT, a CONNECT that never
 * came, a protocol version it does not speak. aedes reports each as an `Error` on the `clientError` or
 * `connectionError` event, with nothing but its message to tell them apart; this maps the messages of the
 * pinned aedes version onto bounded refusal reasons (a test sends each case through a real broker, so a
 * changed message fails a test, not the count).
 */

/** Refusal reasons of this module. Wire strings: add, never rename. */
export type BrokerRefusal =
  | "connect_timeout"
  | "topic_wildcard"
  | "topic_too_deep"
  | "topic_empty"
  | "topic_filter_invalid"
  | "protocol_violation"
  | "protocol_version_unsupported"
  | "client_id_rejected"
  | "queue_limit"
  | "qos2_inflight_limit"
  | "malformed_packet";

/** aedes 1.2 messages, exact. */
const BY_MESSAGE: ReadonlyMap<string, BrokerRefusal> = new Map([
  ["connect did not arrive in time", "connect_timeout"],
  ["# is not allowed in PUBLISH", "topic_wildcard"],
  ["+ is not allowed in PUBLISH", "topic_wildcard"],
  ["topic has too many levels", "topic_too_deep"],
  ["empty topic not allowed in PUBLISH", "topic_empty"],
  ["impossible to SUBSCRIBE to an empty topic", "topic_filter_invalid"],
  ["impossible to UNSUBSCRIBE to an empty topic", "topic_filter_invalid"],
  ["# is only allowed in SUBSCRIBE in the last position", "topic_filter_invalid"],
  ["+ is only allowed in SUBSCRIBE between /", "topic_filter_invalid"],
  ["Invalid protocol", "protocol_violation"],
  ["Client queue limit reached", "queue_limit"],
]);

/** aedes 1.2 messages that carry a number after this beginning. */
const BY_PREFIX: ReadonlyArray<readonly [string, BrokerRefusal]> = [
  ["maxInflightInbound exceeded", "qos2_inflight_limit"],
];

/** [MQTT 3.1.1 §3.2.2.3] CONNACK return codes aedes answers on its own. */
const BY_CONNACK_CODE: ReadonlyMap<number, BrokerRefusal> = new Map([
  [1, "protocol_version_unsupported"],
  [2, "client_id_rejected"],
]);

/**
 * A refusal the gateway decided and counted itself (authentication): aedes reports it again as a client
 * error, which must not count twice.
 */
export class CountedRefusal extends Error {
  readonly reason: string;
  /** [MQTT 3.1.1 §3.2.2.3] the CONNACK return code aedes sends. */
  readonly returnCode: 2 | 3 | 4 | 5;

  constructor(reason: string, returnCode: 2 | 3 | 4 | 5) {
    super(reason);
    this.name = "CountedRefusal";
    this.reason = reason;
    this.returnCode = returnCode;
  }
}

/**
 * The refusal reason of an error aedes reported on a connection, or undefined when it is not a refusal
 * (the peer went away, a keep-alive expired, a write timed out) or was counted where it was decided.
 * `isParseError` says whether mqtt-packet's parser raised it (a malformed packet).
 */
export function brokerRefusalReason(err: unknown, isParseError: boolean): BrokerRefusal | undefined {
  if (!(err instanceof Error) || err instanceof CountedRefusal) return undefined;
  if (isParseError) return "malformed_packet";
  const byMessage = BY_MESSAGE.get(err.message);
  if (byMessage) return byMessage;
  for (const [prefix, reason] of BY_PREFIX) if (err.message.startsWith(prefix)) return reason;
  const code = (err as { errorCode?: unknown }).errorCode;
  return typeof code === "number" ? BY_CONNACK_CODE.get(code) : undefined;
}

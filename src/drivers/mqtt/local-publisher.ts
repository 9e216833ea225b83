/** The embedded aedes broker as the gateway's {@link LocalPublisher}. */
import type { Aedes } from "aedes";
import type { LocalPublisher } from "../../core/ports.js";

/** Publishes through `broker()` (read at each call: the broker exists once the transport started). */
export function aedesPublisher(broker: () => Aedes): LocalPublisher {
  return {
    publish(topic, payload, { qos, retain }, done) {
      broker().publish(
        { cmd: "publish", topic, payload: Buffer.from(payload), qos, retain, dup: false },
        (err) => done?.(err ?? undefined),
      );
    },
  };
}

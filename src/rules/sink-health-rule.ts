/**
 * Technical alarm for the distributed alarm system itself: an alert sink that has been unable to deliver
 * for `downAlarmSec` raises `technical.alert_sink_down` [IEC 60601-1-8 §6.11: communication failure in a
 * DAS is a technical alarm condition]. The condition belongs to the gateway, so its subject id is the
 * gateway id; it clears once the sink delivers again.
 */

import { type AlertPriority, type ConditionUpdate, conditionKey, type Rule, type RuleInput } from "./rule.js";
import type { SinkHealth } from "./sinks/alert-sink.js";

export const SINK_DOWN_RULE_ID = "technical.alert_sink_down";

export class SinkHealthRule implements Rule {
  readonly id = "sink_health";
  readonly category = "technical" as const;
  readonly #sinks: () => readonly { name: string; health(): SinkHealth }[];
  readonly #gatewayId: string;
  readonly #downAlarmMs: number;
  readonly #priority: AlertPriority;
  readonly #reported = new Set<string>();

  constructor(opts: {
    sinks: () => readonly { name: string; health(): SinkHealth }[];
    gatewayId: string;
    downAlarmSec: number;
    priority?: AlertPriority;
  }) {
    if (!(opts.downAlarmSec > 0)) throw new RangeError("downAlarmSec must be > 0");
    this.#sinks = opts.sinks;
    this.#gatewayId = opts.gatewayId;
    this.#downAlarmMs = opts.downAlarmSec * 1000;
    this.#priority = opts.priority ?? "medium";
  }

  evaluate(input: RuleInput, nowMs: number): readonly ConditionUpdate[] {
    if (input.type !== "tick") return [];
    const out: ConditionUpdate[] = [];
    for (const sink of this.#sinks()) {
      const h = sink.health();
      const key = conditionKey(this.#gatewayId, SINK_DOWN_RULE_ID, sink.name);
      const isDown = h.downSinceMs !== null && nowMs - h.downSinceMs >= this.#downAlarmMs;
      if (isDown) {
        this.#reported.add(key);
        const forSec = Math.round((nowMs - h.downSinceMs!) / 1000);
        out.push({
          type: "active",
          condition: {
            key,
            ruleId: SINK_DOWN_RULE_ID,
            subjectId: this.#gatewayId,
            deviceId: null,
            priority: this.#priority,
            category: "technical",
            reason: `alert delivery via ${sink.name} failing for ${forSec} s (${h.pending} pending): ${h.lastError}`,
          },
        });
      } else if (this.#reported.delete(key)) {
        out.push({ type: "clear", key, reason: `alert delivery via ${sink.name} restored` });
      }
    }
    return out;
  }

  forgetSubject(): void {}
}

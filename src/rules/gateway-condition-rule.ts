/**
 * Technical alarms for conditions of the gateway itself rather than of a patient or a device, such as
 * storage under its watermark (readings are no longer acknowledged) [IEC 60601-1-8 §6.11: a failure of
 * the distributed alarm system's own parts is a technical alarm condition]. Each condition is a named
 * check returning the current problem text; the alarm is active while the check reports one, its text
 * always the current one, and it clears when the check passes. Evaluated on ticks.
 */
import { type AlertPriority, type ConditionUpdate, conditionKey, type Rule, type RuleInput } from "./rule.js";

/** One gateway condition: `technical.<name>`, active while `problem()` returns a text. */
export interface GatewayCondition {
  /** snake_case; the rule id becomes `technical.<name>` (a wire string). */
  readonly name: string;
  readonly priority: AlertPriority;
  problem(): string | undefined;
  /** Text of the clearing transition. */
  readonly clearedText: string;
}

export class GatewayConditionRule implements Rule {
  readonly id = "gateway_conditions";
  readonly category = "technical" as const;
  readonly #conditions: readonly GatewayCondition[];
  readonly #gatewayId: string;
  readonly #active = new Set<string>();

  constructor(opts: { conditions: readonly GatewayCondition[]; gatewayId: string }) {
    this.#conditions = opts.conditions;
    this.#gatewayId = opts.gatewayId;
  }

  evaluate(input: RuleInput, _nowMs: number): readonly ConditionUpdate[] {
    if (input.type !== "tick") return [];
    const out: ConditionUpdate[] = [];
    for (const c of this.#conditions) {
      const ruleId = `technical.${c.name}`;
      const key = conditionKey(this.#gatewayId, ruleId, this.#gatewayId);
      let problem: string | undefined;
      try {
        problem = c.problem();
      } catch (err) {
        problem = `${c.name} cannot be checked: ${(err as Error).message}`;
      }
      if (problem !== undefined) {
        // reported on every tick while present, so the alert's text follows the current condition
        this.#active.add(key);
        out.push({
          type: "active",
          condition: {
            key,
            ruleId,
            subjectId: this.#gatewayId,
            deviceId: null,
            priority: c.priority,
            category: "technical",
            reason: problem,
          },
        });
      } else if (this.#active.delete(key)) {
        out.push({ type: "clear", key, reason: c.clearedText });
      }
    }
    return out;
  }

  forgetSubject(): void {}
}

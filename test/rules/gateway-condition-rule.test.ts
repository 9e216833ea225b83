import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GatewayConditionRule } from "../../src/rules/gateway-condition-rule.js";

describe("gateway condition rule (technical alarms of the gateway itself)", () => {
  it("is active with the current text on every tick while the check fails, and clears once it passes", () => {
    let problem: string | undefined;
    const rule = new GatewayConditionRule({
      gatewayId: "gw-1",
      conditions: [
        { name: "storage_low", priority: "high", problem: () => problem, clearedText: "space back" },
      ],
    });
    assert.deepEqual(rule.evaluate({ type: "tick", atMs: 0 }, 0), []);
    problem = "free space 10 MiB";
    const [a] = rule.evaluate({ type: "tick", atMs: 1000 }, 1000);
    assert.equal(a?.type, "active");
    assert.equal(a?.type === "active" && a.condition.ruleId, "technical.storage_low");
    assert.equal(a?.type === "active" && a.condition.priority, "high");
    assert.equal(a?.type === "active" && a.condition.subjectId, "gw-1");
    problem = "free space 9 MiB";
    const [b] = rule.evaluate({ type: "tick", atMs: 2000 }, 2000);
    assert.equal(
      b?.type === "active" && b.condition.reason,
      "free space 9 MiB",
      "the text follows the condition",
    );
    problem = undefined;
    assert.deepEqual(rule.evaluate({ type: "tick", atMs: 3000 }, 3000), [
      { type: "clear", key: a?.type === "active" ? a.condition.key : "", reason: "space back" },
    ]);
    assert.deepEqual(rule.evaluate({ type: "tick", atMs: 4000 }, 4000), [], "cleared once");
  });

  it("raises a check that throws as a problem naming the check", () => {
    const rule = new GatewayConditionRule({
      gatewayId: "gw-1",
      conditions: [
        {
          name: "storage_low",
          priority: "high",
          problem: () => {
            throw new Error("boom");
          },
          clearedText: "",
        },
      ],
    });
    const [a] = rule.evaluate({ type: "tick", atMs: 0 }, 0);
    assert.match(a?.type === "active" ? a.condition.reason : "", /storage_low cannot be checked: boom/);
  });
});

/**
 * The clinical scenario suite: every test/scenarios/*.yaml (not pending/) is validated, run through the real
 * gateway on a manual clock (scenario-runner.ts), and the alarm timeline a nurse station received is compared
 * with the file's, second by second. A difference fails with the aligned timeline printed.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { runScenario } from "./scenario-runner.js";
import { loadScenario } from "./scenario-schema.js";
import { compareTimeline } from "./timeline.js";

/** The YAML files stay in the source tree (the build copies only code). */
export const SCENARIO_DIR = fileURLToPath(new URL("../../../test/scenarios/", import.meta.url));

const files = readdirSync(SCENARIO_DIR)
  .filter((f) => f.endsWith(".yaml"))
  .sort();

describe("clinical scenarios", () => {
  it("has scenario files to run", () => {
    assert.ok(files.length > 0, `no scenario files in ${SCENARIO_DIR}`);
  });

  for (const file of files) {
    // loaded here, outside the test: a malformed file fails the whole suite loudly, naming file and field
    const scenario = loadScenario(join(SCENARIO_DIR, file));
    it(`${file}: ${scenario.title}`, async () => {
      const run = await runScenario(scenario);
      assert.deepEqual(run.failedSteps, [], `${file}: script steps the gateway refused`);
      if (!scenario.refusals_expected) {
        const { sent, accepted, refused } = run.readings;
        assert.deepEqual(
          { accepted, refused },
          { accepted: sent, refused: 0 },
          `${file}: readings not accepted`,
        );
      }
      const verdict = compareTimeline(scenario.expect, scenario.never, run.observed, run.t0);
      assert.ok(verdict.ok, `${file}: the alarm timeline differs from the expected one\n${verdict.table}`);
    });
  }
});

/**
 * Runs scenario files given on the command line (a pending one included) and prints each one's alarm
 * timeline against its expected one, without the test runner:
 *
 *   npx tsc -p . && node dist/test/scenarios/try-scenario.js test/scenarios/pending/backfill-after-reconnect.yaml
 *
 * Exit status 0 when every file's timeline is as expected, 1 otherwise. This is how a pending scenario is
 * checked before it is moved into test/scenarios/, and how a reviewer sees what the gateway does.
 */

import { runScenario } from "./scenario-runner.js";
import { loadScenario } from "./scenario-schema.js";
import { compareTimeline } from "./timeline.js";

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write("usage: node dist/test/scenarios/try-scenario.js FILE.yaml…\n");
  process.exit(64);
}
let isAllOk = true;
for (const file of files) {
  const scenario = loadScenario(file);
  const run = await runScenario(scenario);
  const verdict = compareTimeline(scenario.expect, scenario.never, run.observed, run.t0);
  const { sent, accepted, refused } = run.readings;
  const isAccepted = scenario.refusals_expected || (accepted === sent && refused === 0);
  const isOk = verdict.ok && run.failedSteps.length === 0 && isAccepted;
  isAllOk &&= isOk;
  process.stdout.write(
    `${isOk ? "as expected" : "DIFFERS"}: ${file} (${scenario.title})\n${verdict.table}\n`,
  );
  for (const f of run.failedSteps) process.stdout.write(`step failed: ${f}\n`);
  process.stdout.write(`readings: ${sent} sent, ${accepted} accepted, ${refused} refused\n`);
  process.stdout.write("\n");
}
process.exit(isAllOk ? 0 : 1);

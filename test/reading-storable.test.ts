import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { ReadingStore } from "../src/batcher/commit/reading-store.js";
import { type Db, openDatabase } from "../src/db.js";
import { MIGRATIONS } from "../src/migrations.js";
import {
  MAX_FUTURE_SKEW_MS,
  READING_FLAGS,
  type Reading,
  STORAGE_WINDOW_START_MS,
  storableProblem,
  VITAL_KINDS,
} from "../src/reading.js";

const NOW = Date.UTC(2026, 10, 21, 12, 0, 0);

/** Mostly plausible, sometimes absurd: what a buggy or hostile path could put in a field. */
const anyNumber = fc.oneof(
  { arbitrary: fc.integer({ min: STORAGE_WINDOW_START_MS, max: NOW + MAX_FUTURE_SKEW_MS }), weight: 6 },
  { arbitrary: fc.double(), weight: 1 },
  { arbitrary: fc.integer(), weight: 1 },
  {
    arbitrary: fc.constantFrom(-1e23, 1e23, 2 ** 53, 2 ** 63, -(2 ** 63), NOW + 0.5, -0, 1e308, -1e308),
    weight: 1,
  },
);
const anyText = (valid: fc.Arbitrary<string>) =>
  fc.oneof(
    { arbitrary: valid, weight: 8 },
    { arbitrary: fc.constantFrom<unknown>("", "x".repeat(300), 42, null, undefined), weight: 1 },
  );
const anyReading = fc.record({
  deviceId: anyText(fc.stringMatching(/^[a-z0-9-]{1,64}$/)),
  subjectId: anyText(fc.constantFrom("patient-42", "bed-7")),
  kind: anyText(fc.constantFrom(...VITAL_KINDS)),
  loinc: anyText(fc.constantFrom("8867-4", "2708-6")),
  unit: anyText(fc.constantFrom("/min", "%", "mm[Hg]")),
  value: fc.oneof(
    { arbitrary: fc.double({ min: 0, max: 300 }), weight: 6 },
    { arbitrary: anyNumber, weight: 1 },
  ),
  seq: fc.oneof(
    { arbitrary: fc.integer({ min: 1, max: 1e9 }), weight: 6 },
    { arbitrary: anyNumber, weight: 1 },
  ),
  deviceTimeMs: fc.oneof(fc.constant(null), anyNumber),
  observedAtMs: anyNumber,
  receivedAtMs: fc.oneof({ arbitrary: fc.constant(NOW), weight: 6 }, { arbitrary: anyNumber, weight: 1 }),
  flags: fc.oneof(
    { arbitrary: fc.uniqueArray(fc.constantFrom<string>(...READING_FLAGS)), weight: 6 },
    { arbitrary: fc.array(fc.constantFrom("questionable", "made_up", "")), weight: 1 },
  ),
  mdc: fc.oneof(
    { arbitrary: fc.constant(null), weight: 3 },
    { arbitrary: fc.integer({ min: 0, max: 2 ** 32 - 1 }), weight: 3 },
    { arbitrary: anyNumber, weight: 1 },
  ),
});

describe("storableProblem against the real readings table", () => {
  let dir: string;
  let db: Db;
  let store: ReadingStore;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "vitalog-storable-"));
    db = openDatabase(join(dir, "readings.db"), MIGRATIONS, { synchronous: "normal" });
    store = new ReadingStore(db);
  });
  after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  let nextId = 0;
  const withId = (fields: object): Reading =>
    ({ id: `01KAKX${String(++nextId).padStart(20, "0")}`, ...fields }) as Reading;

  it("catches the reading that once failed a whole group commit (observed_at_ms as REAL)", () => {
    const poison = withId({
      deviceId: "bedside-7",
      subjectId: "patient-42",
      kind: "heart_rate",
      loinc: "8867-4",
      value: 72,
      unit: "/min",
      deviceTimeMs: null,
      observedAtMs: NOW - 1e23,
      receivedAtMs: NOW,
      seq: 1,
      flags: [],
      mdc: null,
    });
    assert.throws(
      () => db.transaction(() => store.insert(poison))(),
      /INTEGER column readings.observed_at_ms/,
    );
    assert.match(storableProblem(poison) ?? "", /^observedAtMs /);
  });

  it("every reading it accepts inserts into the STRICT table", () => {
    let storable = 0;
    fc.assert(
      fc.property(anyReading, (fields) => {
        const r = withId(fields);
        if (storableProblem(r) !== undefined) return;
        storable++;
        db.transaction(() => store.insert(r))();
      }),
      { numRuns: 400 },
    );
    assert.ok(storable > 50, `only ${storable} generated readings were storable: the property tested little`);
  });
});

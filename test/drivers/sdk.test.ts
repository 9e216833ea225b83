import assert from "node:assert/strict";
import { describe, it } from "node:test";
import semver from "semver";
import {
  type CharacteristicBinding,
  DecodeError,
  DefinitionError,
  type DeviceDefinition,
  defineDevice,
  definitionProblems,
  FrameSplitter,
  heartRateMeasurement,
  hex,
  isSdkCompatible,
  plxContinuous,
  SDK_VERSION,
  safeDecode,
  sdkRangePolicyProblem,
  uuid16,
} from "../../src/drivers/sdk.js";

const bleDef = (over: Partial<DeviceDefinition> = {}): DeviceDefinition => ({
  vendor: "Acme",
  model: "HR-1",
  sdkVersion: "^1.0.0",
  match: { transport: "ble", serviceUuids: ["180D"] },
  notify: [heartRateMeasurement()],
  ...over,
});

describe("driver SDK: versioning", () => {
  it("is version 1.2.0 (a minor release: only additions since 1.0.0)", () => {
    assert.equal(SDK_VERSION, "1.2.0");
    assert.equal(semver.valid(SDK_VERSION), SDK_VERSION);
    assert.equal(semver.prerelease(SDK_VERSION), null);
  });

  it("accepts caret ranges and exact versions under the range policy, prereleases included", () => {
    for (const ok of [
      "^1.2.3",
      "^1.2",
      "^1",
      "^0.2.3",
      "^0.0.3",
      "^0.0",
      "^0",
      "1.4.2",
      " ^1.0.0 ",
      "^2.0.0-rc.1",
      "^1.0.0-beta",
      "2.0.0-alpha.0",
    ]) {
      assert.equal(sdkRangePolicyProblem(ok), undefined, ok);
    }
  });

  it("refuses every other range shape under the policy, with the policy's own text", () => {
    for (const bad of [
      "",
      "~1.0.0",
      ">=1.0.0",
      ">=1.0.0 <2.0.0",
      "^1.0.0 || ^2.0.0",
      "1.0.0 - 2.0.0",
      "*",
      "1.x",
      "^1.x",
      "^01.0.0",
      "1.0",
      "latest",
      "v1.0.0",
      "^v1.0.0",
      "=1.0.0",
      "^1.0.0+build.7",
      "^1.2.3.4",
    ]) {
      assert.equal(
        sdkRangePolicyProblem(bad),
        `sdkVersion must be a caret range or exact version, e.g. "^1.0.0" (got ${JSON.stringify(bad)})`,
        bad,
      );
    }
    assert.match(sdkRangePolicyProblem(undefined) ?? "", /caret range or exact version.*\(got undefined\)/);
    assert.match(sdkRangePolicyProblem(1) ?? "", /caret range or exact version.*\(got 1\)/);
  });

  it("checks versions against caret ranges with npm semantics, including the 0.x special cases", () => {
    const cases: [string, string, boolean][] = [
      ["1.9.9", "^1.2.3", true],
      ["1.2.3", "^1.2.3", true],
      ["1.2.2", "^1.2.3", false],
      ["2.0.0", "^1.2.3", false],
      ["1.99.0", "^1.2", true],
      ["1.1.9", "^1.2", false],
      ["1.0.0", "^1", true],
      ["2.0.0", "^1", false],
      ["0.2.9", "^0.2.3", true],
      ["0.3.0", "^0.2.3", false],
      ["0.0.3", "^0.0.3", true],
      ["0.0.4", "^0.0.3", false],
      ["0.0.9", "^0.0", true],
      ["0.1.0", "^0.0", false],
      ["0.9.0", "^0", true],
      ["1.0.0", "^0", false],
      ["1.4.2", "1.4.2", true],
      ["1.4.3", "1.4.2", false],
      ["1.10.0", "^1.9.0", true],
    ];
    for (const [version, range, contained] of cases) {
      assert.equal(isSdkCompatible(range, version), contained, `${version} in ${range}`);
    }
  });

  it("contains a prerelease SDK only in a range that names a prerelease of the same version", () => {
    const cases: [string, string, boolean][] = [
      ["1.0.0-rc.1", "^1.0.0", false],
      ["1.2.0-rc.1", "^1.0.0", false],
      ["2.0.0-rc.1", "^1.0.0", false],
      ["2.0.0-rc.1", "^2.0.0", false],
      ["2.0.0-rc.1", "^2.0.0-rc.1", true],
      ["2.0.0-rc.2", "^2.0.0-rc.1", true],
      ["2.0.0-rc.0", "^2.0.0-rc.1", false],
      ["2.0.0", "^2.0.0-rc.1", true],
      ["2.3.0", "^2.0.0-rc.1", true],
      ["2.1.0-rc.1", "^2.0.0-rc.1", false],
      ["2.0.0-rc.1", "2.0.0-rc.1", true],
      ["2.0.0", "2.0.0-rc.1", false],
    ];
    for (const [version, range, contained] of cases) {
      assert.equal(isSdkCompatible(range, version), contained, `${version} in ${range}`);
    }
  });

  it("declares a definition compatible only when its range contains SDK_VERSION", () => {
    assert.ok(isSdkCompatible("^1.0.0"));
    assert.ok(isSdkCompatible("^1"));
    assert.ok(isSdkCompatible("^1.1.0"));
    assert.ok(isSdkCompatible("^1.2.0"));
    assert.ok(!isSdkCompatible("1.0.0"), "an exact pin to an older version does not match");
    assert.ok(!isSdkCompatible("^1.3.0"));
    assert.ok(!isSdkCompatible("^2.0.0"));
    assert.ok(!isSdkCompatible("^0.9.0"));
    assert.ok(!isSdkCompatible("^1.3.0-rc.1"), "a prerelease of a later minor does not contain 1.2.0");
    assert.ok(!isSdkCompatible("nonsense"));
    assert.ok(isSdkCompatible("^1.1.0", "1.4.0"));
  });

  it("reports the policy and the compatibility problem with different texts", () => {
    const wide = definitionProblems(bleDef({ sdkVersion: ">=1.0.0" }));
    assert.deepEqual(wide, [
      'sdkVersion must be a caret range or exact version, e.g. "^1.0.0" (got ">=1.0.0")',
    ]);
    assert.ok(isSdkCompatible(">=1.0.0"), "semver alone would accept it: the policy is what refuses it");
    const later = definitionProblems(bleDef({ sdkVersion: "^1.3.0-rc.1" }));
    assert.deepEqual(later, ["sdkVersion ^1.3.0-rc.1 does not include this SDK (1.2.0)"]);
    assert.deepEqual(definitionProblems(bleDef({ sdkVersion: "^1.1.0" })), []);
  });
});

describe("driver SDK: defineDevice", () => {
  it("returns a frozen definition with canonical 128-bit lower-case UUIDs", () => {
    const def = defineDevice(bleDef({ match: { transport: "ble", serviceUuids: ["0x180D"] } }));
    assert.ok(Object.isFrozen(def));
    assert.ok(def.match.transport === "ble" && Object.isFrozen(def.match));
    assert.deepEqual(def.match.transport === "ble" && def.match.serviceUuids, [
      "0000180d-0000-1000-8000-00805f9b34fb",
    ]);
    assert.equal(def.notify?.[0]?.characteristic, uuid16(0x2a37));
    assert.ok(Object.isFrozen(def.notify));
  });

  it("lists every problem at once in a DefinitionError (a TypeError)", () => {
    const bad = {
      vendor: "",
      model: " ",
      sdkVersion: "^2.0.0",
      match: { transport: "ble" },
      notify: [
        { ...heartRateMeasurement(), name: "Bad-Name", examples: ["zz"] },
        { ...heartRateMeasurement(), characteristic: "nope", property: "write" },
      ],
    } as unknown as DeviceDefinition;
    try {
      defineDevice(bad);
      assert.fail("expected a DefinitionError");
    } catch (e) {
      assert.ok(e instanceof DefinitionError);
      assert.ok(e instanceof TypeError);
      assert.deepEqual(e.problems, [
        "vendor must be a non-empty string",
        "model must be a non-empty string",
        "sdkVersion ^2.0.0 does not include this SDK (1.2.0)",
        "match needs serviceUuids or namePrefix (a definition must not match every BLE device)",
        "notify[0].name must be snake_case",
        "notify[0].examples[0] must be non-empty hex",
        "notify[1].characteristic must be a UUID",
        "notify[1].property must be notify or indicate",
      ]);
    }
  });

  it("refuses duplicate binding names, missing bindings, missing examples and a non-function decoder", () => {
    assert.deepEqual(
      definitionProblems(bleDef({ notify: [heartRateMeasurement(), heartRateMeasurement()] })),
      ["notify names must be unique: heart_rate_measurement"],
    );
    assert.deepEqual(definitionProblems(bleDef({ notify: [] })), [
      "notify must list at least one characteristic",
    ]);
    const broken = { ...plxContinuous(), examples: [], decode: "x" } as unknown as CharacteristicBinding;
    assert.deepEqual(definitionProblems(bleDef({ notify: [broken] })), [
      "notify[0].decode must be a function",
      "notify[0].examples must list at least one frame",
    ]);
    assert.deepEqual(definitionProblems(null), ["definition must be an object"]);
    assert.deepEqual(definitionProblems(bleDef({ match: { transport: "usb" } as never })), [
      'match.transport must be "ble" or "serial"',
    ]);
  });

  it("validates serial definitions: ids, baud rate, framing, decoder, examples", () => {
    const serial: DeviceDefinition = {
      vendor: "Acme",
      model: "Bedside monitor",
      sdkVersion: "^1.0.0",
      match: { transport: "serial", usbVendorId: "0403", usbProductId: "6001" },
      serial: {
        baudRate: 115200,
        framing: { type: "delimiter", delimiter: "0D 0A", maxFrameBytes: 256 },
        decode: heartRateMeasurement().decode,
        examples: ["00 48"],
      },
    };
    assert.ok(Object.isFrozen(defineDevice(serial).serial?.framing));
    assert.deepEqual(
      definitionProblems({
        ...serial,
        match: { transport: "serial", usbVendorId: "403" },
        serial: {
          ...serial.serial!,
          baudRate: 0,
          framing: { type: "delimiter", delimiter: "", maxFrameBytes: 0 },
        },
        notify: [heartRateMeasurement()],
      }),
      [
        "match.usbVendorId must be 4 hex digits",
        "serial.baudRate must be a positive integer",
        "serial.framing.delimiter must be non-empty hex",
        "serial.framing.maxFrameBytes must be an integer in 1..65535",
        "notify is for ble devices; this one matches over serial",
      ],
    );
  });
});

describe("driver SDK: safeDecode", () => {
  it("turns a DecodeError into its reason and anything else into decoder_bug; never throws", () => {
    const ctx = { nowMs: 0 };
    assert.deepEqual(safeDecode(heartRateMeasurement().decode, hex("00"), ctx), {
      ok: false,
      reason: "frame_too_short",
      detail: "heart rate needs 1 octet(s) at offset 1, 0 left",
      isBug: false,
    });
    const buggy = safeDecode(
      () => {
        throw new RangeError("oops");
      },
      hex("00"),
      ctx,
    );
    assert.deepEqual(buggy, { ok: false, reason: "decoder_bug", detail: "oops", isBug: true });
    const good = safeDecode(heartRateMeasurement().decode, hex("00 48"), { nowMs: Date.UTC(2025, 0, 1) });
    assert.ok(good.ok && good.result.readings[0]?.value === 72);
  });

  it("reports a DecodeError with a catalogued reason that is not a decoder's as decoder_bug, naming it", () => {
    const throwing = (reason: string) => () => {
      throw new DecodeError(reason, "refused");
    };
    const ctx = { nowMs: 0 };
    assert.deepEqual(safeDecode(throwing("subject_erased"), hex("00"), ctx), {
      ok: false,
      reason: "decoder_bug",
      detail: "reason subject_erased is the catalog's (ingest), not a decoder's: refused",
      isBug: true,
    });
    for (const reason of [
      "rate_limited_messages",
      "storage_low",
      "bad_password",
      "racp_timeout",
      "decoder_bug",
    ]) {
      const outcome = safeDecode(throwing(reason), hex("00"), ctx);
      assert.ok(!outcome.ok && outcome.reason === "decoder_bug" && outcome.isBug, reason);
    }
    for (const reason of [
      "acme_lead_off",
      "frame_too_short",
      "payload_malformed_json",
      "unknown_vital",
      "checksum_mismatch",
    ]) {
      assert.deepEqual(
        safeDecode(throwing(reason), hex("00"), ctx),
        { ok: false, reason, detail: "refused", isBug: false },
        reason,
      );
    }
  });

  it("DecodeError reasons must be snake_case", () => {
    assert.throws(() => new DecodeError("Bad Reason", "x"), TypeError);
    assert.equal(new DecodeError("vendor_specific_thing", "x").reason, "vendor_specific_thing");
  });
});

describe("driver SDK: serial FrameSplitter", () => {
  it("cuts delimiter frames across chunk boundaries and drops over-long frames", () => {
    const s = new FrameSplitter({ type: "delimiter", delimiter: "0D 0A", maxFrameBytes: 4 });
    assert.deepEqual(s.push(hex("01 02 0D")), []);
    assert.deepEqual(s.push(hex("0A 03 0D 0A")), [hex("01 02"), hex("03")]);
    // the rest of an over-long frame is skipped up to its delimiter; the next frame is intact
    assert.deepEqual(s.push(hex("09 09 09 09 09 09 09 09 0D 0A 04 0D 0A")), [hex("04")]);
    assert.equal(s.overflows, 1);
  });

  it("counts overflow of a delimiter frame and resumes at the next delimiter", () => {
    const s = new FrameSplitter({ type: "delimiter", delimiter: "0A", maxFrameBytes: 2 });
    const frames = s.push(hex("01 02 03 04 0A 05 0A"));
    assert.equal(s.overflows, 1);
    assert.deepEqual(frames, [hex("05")]);
  });

  it("cuts fixed-length frames", () => {
    const s = new FrameSplitter({ type: "fixed_length", frameBytes: 2 });
    assert.deepEqual(s.push(hex("01 02 03")), [hex("01 02")]);
    assert.deepEqual(s.push(hex("04")), [hex("03 04")]);
  });

  it("cuts length-prefixed frames, resynchronising on the start byte and refusing over-long lengths", () => {
    const s = new FrameSplitter({
      type: "length_prefixed",
      startByte: 0xaa,
      lengthOctets: 1,
      maxFrameBytes: 3,
    });
    assert.deepEqual(s.push(hex("00 11 AA 02 48 49 AA 09 AA 01 50")), [hex("48 49"), hex("50")]);
    assert.equal(s.overflows, 1);
    const two = new FrameSplitter({ type: "length_prefixed", lengthOctets: 2, maxFrameBytes: 300 });
    assert.deepEqual(two.push(hex("02 00 01 02 01 00 03")), [hex("01 02"), hex("03")]);
  });

  it("refuses an invalid framing with TypeError", () => {
    assert.throws(() => new FrameSplitter({ type: "fixed_length", frameBytes: 0 }), TypeError);
  });
});

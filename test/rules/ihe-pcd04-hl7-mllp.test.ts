import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeOruR40, escapeHl7, hl7Time, parseAck } from "../../src/rules/sinks/hl7-oru-r40.js";
import { frameMllp, MllpDeframer } from "../../src/rules/sinks/mllp.js";
import { hl7Field } from "./receivers.js";
import { alertMessage } from "./sink-conformance.js";

const OPTS = {
  sendingApplication: "VITALOG",
  sendingFacility: "WARD7",
  receivingApplication: "AM",
  receivingFacility: "HOSP",
  processingId: "P" as const,
  patientIdAuthority: "HOSP",
  pointOfCare: "WARD7^^BED12",
  gatewayId: "gw-01",
};
const AT = Date.UTC(2026, 2, 15, 8, 30, 0, 120);

describe("IHE PCD-04 ORU^R40 encoding", () => {
  it("builds MSH/PID/PV1/OBR and the seven ACM facets", () => {
    const m = alertMessage({ alert_id: "A-1", at_ms: AT, subject_id: "MRN123" });
    const text = encodeOruR40(m, "ctl-1", OPTS, AT);
    const segs = text.split("\r");
    assert.deepEqual(
      segs.map((s) => s.slice(0, 3)),
      ["MSH", "PID", "PV1", "OBR", "OBX", "OBX", "OBX", "OBX", "OBX", "OBX", "OBX"],
    );
    assert.equal(
      segs[0],
      "MSH|^~\\&|VITALOG^gw-01|WARD7|AM|HOSP|20260315083000.120+0000||ORU^R40^ORU_R40|ctl-1|P|2.6|||AL|NE||UNICODE UTF-8|||IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.4.4^ISO",
    );
    assert.equal(hl7Field(text, "PID", 3), "MRN123^^^HOSP^MR");
    assert.equal(hl7Field(text, "PV1", 3), "WARD7^^BED12");
    assert.equal(hl7Field(text, "OBR", 3), "A-1^VITALOG^gw-01");
    assert.equal(hl7Field(text, "OBR", 4), "196616^MDC_EVT_ALARM^MDC");
    assert.equal(
      segs[4],
      "OBX|1|ST|196674^MDC_EVT_LO_VAL_LT_LIM^MDC|1.0.0.0.1|SpO2 84 % below limit 85 %|||L~PH~SP|||R|||20260315083000.120+0000",
    );
    const facets = segs.slice(4).map((s) => s.split("|"));
    assert.deepEqual(
      facets.map((f) => f[4]),
      ["1.0.0.0.1", "1.0.0.0.2", "1.0.0.0.3", "1.0.0.0.4", "1.0.0.0.5", "1.0.0.0.6", "1.0.0.0.7"],
    );
    assert.deepEqual(
      facets.slice(2).map((f) => [f[3]!.split("^")[1], f[5]]),
      [
        ["MDC_ATTR_EVENT_PHASE", "start"],
        ["MDC_ATTR_ALARM_STATE", "active"],
        ["MDC_ATTR_ALARM_INACTIVATION_STATE", "enabled"],
        ["MDC_ATTR_ALARM_PRIORITY", "PH"],
        ["MDC_ATTR_ALERT_TYPE", "SP"],
      ],
    );
  });

  it("reuses the alert id across the alert's updates and names who acknowledged", () => {
    const ack = alertMessage({
      alert_id: "A-1",
      transition: "acknowledge",
      state: "acknowledged",
      by: "nurse.jane",
      category: "technical",
      rule_id: "technical.device_silent",
      priority: "medium",
    });
    const text = encodeOruR40(ack, "ctl-2", OPTS, AT);
    assert.equal(hl7Field(text, "OBR", 3), "A-1^VITALOG^gw-01");
    const obx = text.split("\r").filter((s) => s.startsWith("OBX"));
    assert.equal(obx[0]!.split("|")[3], "technical.device_silent^technical.device_silent^99VITALOG");
    assert.equal(obx[0]!.split("|")[8], "~PM~ST");
    assert.equal(obx[2]!.split("|")[5], "update");
    assert.deepEqual(obx[4]!.split("|").slice(5, 6).concat(obx[4]!.split("|")[16]!), [
      "alert-acknowledged",
      "nurse.jane",
    ]);
  });

  it("escapes HL7 delimiters in free text and formats times in UTC", () => {
    assert.equal(escapeHl7("a|b^c~d\\e&f\ng"), "a\\F\\b\\S\\c\\R\\d\\E\\e\\T\\f\\.br\\g");
    const text = encodeOruR40(alertMessage({ reason: "x|y^z" }), "c", OPTS, AT);
    assert.equal(text.split("\r")[4]!.split("|")[5], "x\\F\\y\\S\\z");
    assert.equal(hl7Time(Date.UTC(2026, 0, 2, 3, 4, 5, 6)), "20260102030405.006+0000");
  });

  it("parses ACK^R40 MSA codes and control ids", () => {
    assert.deepEqual(parseAck("MSH|^~\\&|AM|H|||x||ACK^R40^ACK|9|P|2.6\rMSA|AA|ctl-1"), {
      code: "AA",
      controlId: "ctl-1",
      text: "",
    });
    assert.equal(parseAck("MSH|^~\\&|AM\rMSA|AR|c|bad patient")!.text, "bad patient");
    assert.equal(parseAck("MSH|^~\\&|AM"), undefined);
  });
});

describe("MLLP framing (HL7 v2 Appendix C)", () => {
  it("reassembles frames split at every byte boundary and skips bytes between frames", () => {
    const a = frameMllp("MSH|a\rMSA|AA|1");
    const b = frameMllp("MSH|b\rMSA|AE|2");
    const stream = Buffer.concat([Buffer.from("noise"), a, Buffer.from("\r\n"), b]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new MllpDeframer();
      const got = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      assert.deepEqual(got, ["MSH|a\rMSA|AA|1", "MSH|b\rMSA|AE|2"], `cut at ${cut}`);
    }
  });

  it("frames UTF-8 text as VT … FS CR", () => {
    const f = frameMllp("é");
    assert.deepEqual([...f], [0x0b, 0xc3, 0xa9, 0x1c, 0x0d]);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Hl7Field, Hl7Message, type Hl7Segment } from "@medplum/core";
import {
  encodeOruR40,
  escapeHl7,
  escapeHl7Value,
  hl7Time,
  type Oru40Options,
  parseAck,
} from "../../src/rules/sinks/hl7-oru-r40.js";
import { CR, FS, frameMllp, MllpDeframer, VT } from "../../src/rules/sinks/mllp.js";
import { alertMessage } from "./sink-conformance.js";

// The produced messages are read back with @medplum/core's Hl7Message, an HL7 v2 parser written independently
// of ours, so a delimiter our encoder forgot to escape shows up as an extra field, component or segment.

const OPTS: Oru40Options = {
  sendingApplication: "VITALOG",
  sendingFacility: "WARD7",
  receivingApplication: "AM",
  receivingFacility: "HOSP",
  processingId: "P",
  patientIdAuthority: "HOSP",
  pointOfCare: "WARD7",
  gatewayId: "gw-01",
};
const AT = Date.UTC(2026, 2, 15, 8, 30, 0, 120);

/**
 * The inverse of HL7 v2 escaping for the sequences a value may carry [HL7 v2.6 ch. 2, escape sequences]:
 * \F\ \S\ \T\ \R\ \E\ and \Xhh…\ (hexadecimal data, here single-byte characters). Anything else (a formatting
 * command, a lone escape character) fails the test: a value must come back exactly, not approximately.
 */
function unescapeHl7(text: string): string {
  const named: Record<string, string> = { F: "|", S: "^", T: "&", R: "~", E: "\\" };
  let out = "";
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== "\\") {
      out += text[i];
      continue;
    }
    const end = text.indexOf("\\", i + 1);
    assert.ok(end > i, `unterminated escape sequence in ${JSON.stringify(text)}`);
    const seq = text.slice(i + 1, end);
    if (seq in named) out += named[seq];
    else if (/^X(?:[0-9A-F]{2})+$/.test(seq)) {
      for (let k = 1; k < seq.length; k += 2)
        out += String.fromCharCode(Number.parseInt(seq.slice(k, k + 2), 16));
    } else assert.fail(`unexpected escape sequence \\${seq}\\ in ${JSON.stringify(text)}`);
    i = end;
  }
  return out;
}

function parse(text: string): Hl7Message {
  return Hl7Message.parse(text);
}

function segment(msg: Hl7Message, name: string): Hl7Segment {
  const s = msg.getSegment(name);
  assert.ok(s, `segment ${name}`);
  return s;
}

/** The field's single repetition as its components, each unescaped; asserts there is no repetition or subcomponent. */
function components(field: Hl7Field): string[] {
  assert.equal(field.components.length, 1, `one repetition in ${field.toString()}`);
  const comps = field.components[0]!;
  for (const c of comps) assert.ok(!c.includes("&"), `no subcomponent in ${field.toString()}`);
  return comps.map(unescapeHl7);
}

describe("IHE PCD-04 ORU^R40 encoding", () => {
  it("builds MSH/PID/PV1/OBR and the seven ACM facets", () => {
    const m = alertMessage({ alert_id: "A-1", at_ms: AT, subject_id: "MRN123" });
    const text = encodeOruR40(m, "ctl-1", OPTS, AT);
    assert.equal(
      text.split("\r")[0],
      "MSH|^~\\&|VITALOG^gw-01|WARD7|AM|HOSP|20260315083000.120+0000||ORU^R40^ORU_R40|ctl-1|P|2.6|||AL|NE||UNICODE UTF-8|||IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.4.4^ISO",
    );
    const msg = parse(text);
    assert.deepEqual(
      msg.segments.map((s) => s.name),
      ["MSH", "PID", "PV1", "OBR", "OBX", "OBX", "OBX", "OBX", "OBX", "OBX", "OBX"],
    );
    const msh = msg.header;
    assert.equal(msh.getField(9).toString(), "ORU^R40^ORU_R40");
    assert.equal(msh.getField(10).toString(), "ctl-1");
    assert.equal(msh.getField(12).toString(), "2.6");
    assert.equal(msh.getField(21).toString(), "IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.4.4^ISO");
    assert.deepEqual(components(segment(msg, "PID").getField(3)), ["MRN123", "", "", "HOSP", "MR"]);
    assert.deepEqual(components(segment(msg, "PV1").getField(3)), ["WARD7"]);
    assert.deepEqual(components(segment(msg, "OBR").getField(3)), ["A-1", "VITALOG", "gw-01"]);
    assert.equal(segment(msg, "OBR").getField(4).toString(), "196616^MDC_EVT_ALARM^MDC");
    const obx = msg.getAllSegments("OBX");
    assert.equal(
      obx[0]!.toString(),
      "OBX|1|ST|196674^MDC_EVT_LO_VAL_LT_LIM^MDC|1.0.0.0.1|SpO2 84 % below limit 85 %|||L~PH~SP|||R|||20260315083000.120+0000",
    );
    assert.deepEqual(
      obx.map((s) => s.getField(4).toString()),
      ["1.0.0.0.1", "1.0.0.0.2", "1.0.0.0.3", "1.0.0.0.4", "1.0.0.0.5", "1.0.0.0.6", "1.0.0.0.7"],
    );
    assert.deepEqual(
      obx.slice(2).map((s) => [s.getComponent(3, 2), s.getField(5).toString()]),
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
    const msg = parse(encodeOruR40(ack, "ctl-2", OPTS, AT));
    assert.deepEqual(components(segment(msg, "OBR").getField(3)), ["A-1", "VITALOG", "gw-01"]);
    const obx = msg.getAllSegments("OBX");
    assert.equal(obx[0]!.getField(3).toString(), "technical.device_silent^technical.device_silent^99VITALOG");
    assert.deepEqual(
      obx[0]!.getField(8).components.map((r) => r.join("^")),
      ["", "PM", "ST"],
    );
    assert.equal(obx[2]!.getField(5).toString(), "update");
    assert.deepEqual(
      [obx[4]!.getField(5).toString(), obx[4]!.getField(16).toString()],
      ["alert-acknowledged", "nurse.jane"],
    );
  });

  it("escapes HL7 delimiters in free text and formats times in UTC", () => {
    assert.equal(escapeHl7("a|b^c~d\\e&f\ng"), "a\\F\\b\\S\\c\\R\\d\\E\\e\\T\\f\\.br\\g");
    assert.equal(escapeHl7("a\r\nb\rc\x1cd"), "a\\.br\\b\\.br\\c\\X1C\\d");
    const text = encodeOruR40(alertMessage({ reason: "x|y^z" }), "c", OPTS, AT);
    assert.equal(unescapeHl7(parse(text).getAllSegments("OBX")[0]!.getField(5).toString()), "x|y^z");
    assert.equal(hl7Time(Date.UTC(2026, 0, 2, 3, 4, 5, 6)), "20260102030405.006+0000");
  });

  it("escapes identifiers with hexadecimal data for control characters, never a formatting command", () => {
    assert.equal(escapeHl7Value("a|b^c~d\\e&f"), "a\\F\\b\\S\\c\\R\\d\\E\\e\\T\\f");
    assert.equal(escapeHl7Value("a\r\nb\x0bc\x1c\x7f"), "a\\X0D\\\\X0A\\b\\X0B\\c\\X1C\\\\X7F\\");
    assert.equal(escapeHl7Value("\\F\\"), "\\E\\F\\E\\");
    assert.equal(escapeHl7Value("Station 7 – Intensivstation"), "Station 7 – Intensivstation");
  });

  it("brings every configured MSH, PID and PV1 value back exactly, however hostile, through an independent parser", () => {
    // each value distinct (a swapped field is caught), each carrying every delimiter, a CR, an LF, the MLLP
    // block characters and a literal escape sequence
    const hostile = (tag: string) => `${tag} St Mary's |Ward^7~A\\B&C\rD\nE\x0bF\x1cG \\F\\ é`;
    const o: Oru40Options = {
      sendingApplication: hostile("app"),
      sendingFacility: hostile("facility"),
      receivingApplication: hostile("receiver"),
      receivingFacility: hostile("receiving facility"),
      processingId: "T",
      patientIdAuthority: hostile("authority"),
      pointOfCare: hostile("ward"),
      gatewayId: hostile("gateway"),
    };
    const m = alertMessage({
      alert_id: hostile("alert"),
      subject_id: hostile("subject"),
      by: hostile("user"),
      transition: "acknowledge",
      state: "acknowledged",
      at_ms: AT,
    });
    const text = encodeOruR40(m, "ctl-9", o, AT);
    for (const ch of ["\n", "\x0b", "\x1c"]) assert.ok(!text.includes(ch), `no raw ${JSON.stringify(ch)}`);

    const msg = parse(text);
    assert.deepEqual(
      msg.segments.map((s) => s.name),
      ["MSH", "PID", "PV1", "OBR", "OBX", "OBX", "OBX", "OBX", "OBX", "OBX", "OBX"],
    );
    const msh = msg.header;
    // the parser keeps the name and MSH-2 … MSH-21 (MSH-1 is the field separator itself)
    assert.equal(msh.fields.length, 21, "MSH-21 is the last field, nothing added");
    assert.deepEqual(components(msh.getField(3)), [o.sendingApplication, o.gatewayId]);
    assert.deepEqual(components(msh.getField(4)), [o.sendingFacility]);
    assert.deepEqual(components(msh.getField(5)), [o.receivingApplication]);
    assert.deepEqual(components(msh.getField(6)), [o.receivingFacility]);
    assert.equal(msh.getField(9).toString(), "ORU^R40^ORU_R40");
    assert.equal(msh.getField(10).toString(), "ctl-9");
    assert.equal(msh.getField(11).toString(), "T");
    assert.equal(msh.getField(21).toString(), "IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.4.4^ISO");

    const pid = segment(msg, "PID");
    assert.equal(pid.fields.length, 4, "PID-1 … PID-3");
    assert.deepEqual(components(pid.getField(3)), [m.subject_id, "", "", o.patientIdAuthority, "MR"]);
    const pv1 = segment(msg, "PV1");
    assert.equal(pv1.fields.length, 4, "PV1-1 … PV1-3");
    assert.equal(pv1.getField(2).toString(), "I");
    assert.deepEqual(components(pv1.getField(3)), [o.pointOfCare]);

    const obr = segment(msg, "OBR");
    assert.deepEqual(components(obr.getField(2)), [m.alert_id, o.sendingApplication, o.gatewayId]);
    assert.deepEqual(components(obr.getField(3)), [m.alert_id, o.sendingApplication, o.gatewayId]);
    assert.equal(obr.getField(7).toString(), hl7Time(m.raised_at_ms));
    const obx = msg.getAllSegments("OBX");
    assert.deepEqual(components(obx[0]!.getField(16)), [m.by]);
    assert.deepEqual(components(obx[4]!.getField(16)), [m.by]);
    assert.equal(obx[6]!.getField(5).toString(), "SP");

    // framed, the message is one MLLP block: the only VT opens it, the only FS closes it
    const frame = frameMllp(text);
    assert.equal(frame.indexOf(VT), 0);
    assert.equal(frame.indexOf(FS), frame.length - 2);
    assert.equal(frame[frame.length - 1], CR);
    assert.equal(parse(frame.subarray(1, -2).toString("utf8")).toString(), msg.toString());
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

  it("refuses to frame content holding a block character, which would end the frame early", () => {
    assert.throws(() => frameMllp("MSH|a\x1cb"), RangeError);
    assert.throws(() => frameMllp("MSH|a\x0bb"), RangeError);
  });
});

/**
 * @acme/vitalog-band — the Vitalog definition of the Acme WB-2 wristband's MQTT payload. The band publishes its
 * binary payload (acme-band.ts) to `<prefix>/<device id>/acme_band`; the operator enables the package by name
 * in the gateway config (`drivers.packages`), and provisions each band as a device (id + password) as usual.
 */
// In your own package: import { defineMqttDevice, type MqttDeviceDefinition } from "vitalog/mqtt-definition";
import { defineMqttDevice, type MqttDeviceDefinition } from "../../../src/drivers/mqtt-definition.js";
import { decodeAcmeBand } from "./acme-band.js";

export const acmeWb2 = defineMqttDevice({
  vendor: "Acme Medical",
  model: "WB-2 wristband",
  description: "Wrist-worn HR/SpO2 band publishing a compact binary payload over MQTT",
  sdkVersion: "^1.2.0",
  match: { transport: "mqtt", topic: "acme_band" },
  mqtt: {
    decode: decodeAcmeBand,
    examples: [
      // HR 72 /min, SpO2 97 %, skin 33.5 °C, battery 80 %
      "01 00 48 61 16 0D 50 1D",
      // motion: both values flagged device_reported_issue, no skin temperature
      "01 02 6E 5F 00 80 37 87",
    ],
  },
});

/** What the gateway (and the conformance suite) loads from this package. */
export const definitions: readonly MqttDeviceDefinition[] = [acmeWb2];

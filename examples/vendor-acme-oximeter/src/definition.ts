/**
 * @acme/vitalog-oximeter — Vitalog definitions for the Acme OX-100.
 * The device implements the standard PLX Continuous Measurement and a vendor characteristic that adds
 * respiratory rate, perfusion index and battery. The operator enables the package by name in the gateway config.
 */
// In your own package: import { defineDevice, plxContinuous, type DeviceDefinition } from "vitalog/sdk";
import { type DeviceDefinition, defineDevice, plxContinuous } from "../../../src/drivers/sdk.js";
import { ACME_SERVICE, ACME_VITALS, decodeAcmeVitals } from "./acme-vitals.js";

export const acmeOx100 = defineDevice({
  vendor: "Acme Medical",
  model: "OX-100 fingertip pulse oximeter",
  description: "Fingertip SpO2/PR with PPG-derived respiratory rate",
  sdkVersion: "^1.0.0",
  match: { transport: "ble", serviceUuids: ["1822"], namePrefix: "ACME-OX" },
  notify: [
    plxContinuous(),
    {
      name: "acme_vitals",
      service: ACME_SERVICE,
      characteristic: ACME_VITALS,
      property: "notify",
      decode: decodeAcmeVitals,
      examples: [
        // SpO2 97 %, PR 72.0 bpm, RR 16 /min, PI 4.5 %, battery 85 %
        "01 00 61 D0 02 10 2D 55",
        // motion: values flagged device_reported_issue; RR not available
        "01 04 5F 9A 03 FF 0C 50",
      ],
    },
  ],
});

/** What the gateway (and the conformance suite) loads from this package. */
export const definitions: readonly DeviceDefinition[] = [acmeOx100];

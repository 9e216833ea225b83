/**
 * Glucose Type-Sample Location octet [clinical.md §1.7] and the coding it selects [clinical.md §3.1
 * "Choosing a glucose LOINC from the BLE Type nibble"]: the pair member is chosen by the unit, never converted.
 */
import { MDC } from "./mdc.js";

/** Low nibble: Type. 0 and 11–15 RFU. */
export const GLUCOSE_SAMPLE_TYPES = {
  1: "capillary_whole_blood",
  2: "capillary_plasma",
  3: "venous_whole_blood",
  4: "venous_plasma",
  5: "arterial_whole_blood",
  6: "arterial_plasma",
  7: "undetermined_whole_blood",
  8: "undetermined_plasma",
  9: "interstitial_fluid",
  10: "control_solution",
} as const;

/** High nibble: Sample Location. 0 and 5–14 RFU. */
export const GLUCOSE_SAMPLE_LOCATIONS = {
  1: "finger",
  2: "alternate_site_test",
  3: "earlobe",
  4: "control_solution",
  15: "not_available",
} as const;

export type GlucoseSampleType = (typeof GLUCOSE_SAMPLE_TYPES)[keyof typeof GLUCOSE_SAMPLE_TYPES];
export type GlucoseSampleLocation = (typeof GLUCOSE_SAMPLE_LOCATIONS)[keyof typeof GLUCOSE_SAMPLE_LOCATIONS];

/** [clinical.md §3.1] LOINC pairs [mass/volume, moles/volume] by type. */
const LOINC_BY_TYPE: Readonly<Record<number, readonly [string, string]>> = {
  1: ["41653-7", "14743-9"],
  2: ["2345-7", "14749-6"],
  4: ["2345-7", "14749-6"],
  6: ["2345-7", "14749-6"],
  8: ["2345-7", "14749-6"],
  3: ["2339-0", "15074-8"],
  5: ["2339-0", "15074-8"],
  7: ["2339-0", "15074-8"],
  9: ["99504-3", "105272-9"],
};

/** [clinical.md §3.1] MDC codes the reference gives; other types have none here. */
const MDC_BY_TYPE: Readonly<Record<number, number>> = {
  1: MDC.CONC_GLU_CAPILLARY_WHOLEBLOOD,
  2: MDC.CONC_GLU_CAPILLARY_PLASMA,
  8: MDC.CONC_GLU_UNDETERMINED_PLASMA,
  9: MDC.CONC_GLU_ISF,
};

/** The LOINC code for a sample type in a unit ("mg/dL" or "mmol/L"); undefined for RFU/control types. */
export function glucoseLoinc(sampleType: number, unit: "mg/dL" | "mmol/L"): string | undefined {
  const pair = LOINC_BY_TYPE[sampleType];
  return pair ? pair[unit === "mg/dL" ? 0 : 1] : undefined;
}

export function glucoseMdc(sampleType: number): number | undefined {
  return MDC_BY_TYPE[sampleType];
}

export function glucoseSampleTypeName(code: number): GlucoseSampleType | undefined {
  return Object.hasOwn(GLUCOSE_SAMPLE_TYPES, code)
    ? GLUCOSE_SAMPLE_TYPES[code as keyof typeof GLUCOSE_SAMPLE_TYPES]
    : undefined;
}

export function glucoseSampleLocationName(code: number): GlucoseSampleLocation | undefined {
  return Object.hasOwn(GLUCOSE_SAMPLE_LOCATIONS, code)
    ? GLUCOSE_SAMPLE_LOCATIONS[code as keyof typeof GLUCOSE_SAMPLE_LOCATIONS]
    : undefined;
}

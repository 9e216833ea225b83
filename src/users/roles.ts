/**
 * Who a user may be and what each role may do. A leaf module: the user store, the alarm commands and the
 * CLI read it without loading each other.
 *
 * Roles and actions are wire and database strings (the `users.role` column, the log's user events, the
 * refusal detail): snake_case, only ever added to. The ward station adds its routes to this same table.
 *
 * The permission table is a local engineering choice, to be reviewed by the clinical-safety officer:
 * - nurses, charge nurses and clinicians answer every alarm, enter bedside observations and see NEWS2;
 * - a clinical engineer answers technical alarms only (a failing sink, low storage, a lost sensor): a
 *   patient's physiological alarm is answered by someone who can go to the patient;
 * - an auditor only reads (a NEWS2 look), and changes nothing a nurse relies on;
 * - an admin manages accounts and is not a clinical role: it answers no alarm;
 * - devices (provisioning, binding to a patient, new credentials, removal) are managed by a clinical
 *   engineer or an admin;
 * - erasing a subject (irreversible) is an admin's: it is done on a data-protection request, whose reference
 *   the admin gives as the reason. No separate data-protection role is added: the person who decides on
 *   the request (the data protection officer) rarely runs the gateway, and a role nobody holds would leave
 *   erasure undoable;
 * - nobody changes their own role (users/authorize.ts), so no one can promote themselves.
 * - a patient's own alarm limits are changed by a clinician or a charge nurse only (a prescription-like
 *   decision taken for the ward's alarm policy), never by a nurse at the bedside on their own.
 */

/** Roles, in the order the ward station lists them. */
export const USER_ROLES = [
  "nurse",
  "charge_nurse",
  "clinician",
  "clinical_engineer",
  "auditor",
  "admin",
] as const;
export type UserRole = (typeof USER_ROLES)[number];

/**
 * What a user may do: through the alarm commands, answer (acknowledge or silence) a physiological or a
 * technical alarm, enter a clinician observation, look at a subject's NEWS2, change a subject's own alarm
 * limits; through the CLI, manage users (`vitalog users`), manage devices (`vitalog devices`), erase a
 * subject (`vitalog subjects erase`).
 */
export const USER_ACTIONS = [
  "answer_physiological_alarm",
  "answer_technical_alarm",
  "enter_observation",
  "view_news2",
  "change_limits",
  "manage_users",
  "manage_devices",
  "erase_subject",
] as const;
export type UserAction = (typeof USER_ACTIONS)[number];

const CLINICAL: readonly UserAction[] = [
  "answer_physiological_alarm",
  "answer_technical_alarm",
  "enter_observation",
  "view_news2",
];

/** The actions each role may take (see the module comment for why). */
export const ROLE_ACTIONS: Readonly<Record<UserRole, readonly UserAction[]>> = {
  nurse: CLINICAL,
  charge_nurse: [...CLINICAL, "change_limits"],
  clinician: [...CLINICAL, "change_limits"],
  clinical_engineer: ["answer_technical_alarm", "manage_devices"],
  auditor: ["view_news2"],
  admin: ["manage_users", "manage_devices", "erase_subject"],
};

export function isUserRole(role: unknown): role is UserRole {
  return typeof role === "string" && (USER_ROLES as readonly string[]).includes(role);
}

/** True when `role` may take `action`; false for a role this release does not know. */
export function mayTake(role: string, action: UserAction): boolean {
  return isUserRole(role) && ROLE_ACTIONS[role].includes(action);
}

/** A display name: 1–128 characters, no control characters (it is shown on screens and in logs). */
export function isDisplayName(name: string): boolean {
  return name.trim().length > 0 && name.length <= 128 && !/[\u0000-\u001f\u007f-\u009f]/.test(name);
}

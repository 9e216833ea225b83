/**
 * The shapes of identifiers that cross the wire and the database. A leaf module: the commit thread and
 * the config schema both use these without loading each other (the schema pulls in zod and YAML).
 */

/** Device ids double as MQTT client ids, usernames and topic levels. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const SUBJECT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** A person's user id: recorded as `by` in the audit trail; unique regardless of case. */
export const USER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

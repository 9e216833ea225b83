/**
 * The tiny semver subset the SDK needs (no dependency): `MAJOR.MINOR.PATCH` versions and caret ranges
 * (`^1.2.3`, `^1.2`, `^1`, `^0.2.3`, `^0.0.3`) plus exact versions. Pre-release and build tags are not accepted.
 */

export type Version = readonly [number, number, number];

const NUM = "(0|[1-9]\\d*)";
const VERSION = new RegExp(`^${NUM}\\.${NUM}\\.${NUM}$`);
const CARET = new RegExp(`^\\^${NUM}(?:\\.${NUM}(?:\\.${NUM})?)?$`);

/** Parses `1.2.3`; undefined when not a plain release version. */
export function parseVersion(text: string): Version | undefined {
  const m = VERSION.exec(text.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

export function compareVersions(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return 0;
}

/** A range as [inclusive lower bound, exclusive upper bound]. */
export type VersionRange = readonly [Version, Version];

/**
 * Parses an exact version or a caret range with npm semantics: the upper bound bumps the left-most non-zero
 * component that was given (`^1.2.3` → <2.0.0, `^0.2.3` → <0.3.0, `^0.0.3` → <0.0.4, `^0.0` → <0.1.0, `^0` → <1.0.0).
 */
export function parseRange(text: string): VersionRange | undefined {
  const t = text.trim();
  const exact = parseVersion(t);
  if (exact) return [exact, [exact[0], exact[1], exact[2] + 1]];
  const m = CARET.exec(t);
  if (!m) return undefined;
  const major = Number(m[1]);
  const minor = m[2] === undefined ? undefined : Number(m[2]);
  const patch = m[3] === undefined ? undefined : Number(m[3]);
  const low: Version = [major, minor ?? 0, patch ?? 0];
  if (major > 0 || minor === undefined) return [low, [major + 1, 0, 0]];
  if (minor > 0 || patch === undefined) return [low, [0, minor + 1, 0]];
  return [low, [0, 0, patch + 1]];
}

/** True when `version` is inside `range`; false when either does not parse. */
export function satisfies(version: string, range: string): boolean {
  const v = parseVersion(version);
  const r = parseRange(range);
  return v !== undefined && r !== undefined && compareVersions(v, r[0]) >= 0 && compareVersions(v, r[1]) < 0;
}

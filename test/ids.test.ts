import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UlidFactory } from "../src/ids.js";

describe("ULID ids", () => {
  it("are 26 Crockford base32 characters with the time in the first 10", () => {
    const id = new UlidFactory().next(Date.UTC(2026, 10, 21));
    assert.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
    // 2026-11-21T00:00:00Z = 1795219200000 ms → base32 time prefix
    let t = 0;
    for (const ch of id.slice(0, 10)) t = t * 32 + "0123456789ABCDEFGHJKMNPQRSTVWXYZ".indexOf(ch);
    assert.equal(t, Date.UTC(2026, 10, 21));
  });

  it("sort strictly increasing, also within one millisecond and when the clock steps back", () => {
    const f = new UlidFactory();
    const ids = [f.next(1000), f.next(1000), f.next(1000), f.next(999), f.next(1001)];
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `${ids[i]} > ${ids[i - 1]}`);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../../../src/clock.js";
import {
  PendingConnections,
  type PendingRefusal,
  sourceKey,
} from "../../../src/drivers/mqtt/pending-connections.js";

function pending(maxTotal: number, maxPerAddress: number) {
  const closed: Array<[string, PendingRefusal]> = [];
  const clock = new ManualClock();
  const p = new PendingConnections<string>(
    { maxTotal, maxPerAddress },
    (c, reason) => closed.push([c, reason]),
    () => clock.now(),
  );
  return { p, closed, clock };
}

describe("connections waiting for authentication", () => {
  it("closes the oldest connection silent for over a second, not the newcomer", () => {
    const { p, closed, clock } = pending(100, 3);
    p.add("a1", "10.0.0.1");
    p.markConnected("a1");
    p.add("a2", "10.0.0.1");
    clock.advance(1500);
    p.add("a3", "10.0.0.1");
    p.add("b1", "10.0.0.2");
    p.add("a4", "10.0.0.1");
    assert.deepEqual(closed, [["a2", "unauthenticated_address_limit"]], "a1 sent its CONNECT: a2 goes first");
    assert.equal(p.countFrom("10.0.0.1"), 3);
    assert.equal(p.countFrom("10.0.0.2"), 1);
  });

  it("closes the oldest when none has been silent for long (a CONNECT follows within a round trip)", () => {
    const { p, closed, clock } = pending(100, 2);
    p.add("a1", "10.0.0.1");
    p.markConnected("a1");
    p.add("a2", "10.0.0.1");
    clock.advance(10);
    p.add("a3", "10.0.0.1");
    assert.deepEqual(closed, [["a1", "unauthenticated_address_limit"]], "a2 is merely new, not silent");
  });

  it("closes the oldest of a cap of connections that all sent their CONNECT", () => {
    const { p, closed } = pending(100, 2);
    for (const c of ["a1", "a2"]) {
      p.add(c, "10.0.0.1");
      p.markConnected(c);
    }
    p.add("a3", "10.0.0.1");
    assert.deepEqual(closed, [["a1", "unauthenticated_address_limit"]]);
  });

  it("over the total, closes a connection of the address holding the most", () => {
    const { p, closed } = pending(4, 10);
    p.add("a1", "10.0.0.1");
    p.add("b1", "10.0.0.2");
    p.add("b2", "10.0.0.2");
    p.add("c1", "10.0.0.3");
    p.add("d1", "10.0.0.4");
    assert.deepEqual(closed, [["b1", "unauthenticated_limit"]]);
    assert.equal(p.size, 4);
  });

  it("no longer counts a connection that authenticated or closed", () => {
    const { p, closed } = pending(2, 2);
    p.add("a1", "10.0.0.1");
    p.add("a2", "10.0.0.1");
    p.delete("a1");
    p.delete("a1");
    p.add("a3", "10.0.0.1");
    assert.deepEqual(closed, []);
    assert.equal(p.size, 2);
  });

  it("counts an IPv4 address as itself and an IPv6 address by its /64", () => {
    assert.equal(sourceKey("127.0.0.9"), "127.0.0.9");
    assert.equal(sourceKey("::ffff:10.1.2.3"), "10.1.2.3");
    assert.equal(sourceKey("2001:db8:0:7:aaaa::1"), "2001:db8:0:7::/64");
    assert.equal(sourceKey("2001:DB8:0:7:bbbb:cccc:dddd:eeee"), "2001:db8:0:7::/64");
    assert.equal(sourceKey("fe80::1%eth0"), "fe80:0:0:0::/64");
    assert.equal(sourceKey("::1"), "0:0:0:0::/64");
    assert.equal(sourceKey(undefined), "unknown");
  });
});

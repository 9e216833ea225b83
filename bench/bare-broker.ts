/**
 * Baseline for `npm run bench:ingest`: a bare aedes broker that accepts every client and only counts
 * PUBLISH packets (QoS 1 PUBACKs are sent by aedes as usual). Prints its port, then the count on SIGTERM.
 */
import { createServer } from "node:net";
import { Aedes } from "aedes";

let count = 0;
const broker = await Aedes.createBroker({
  maxClientsIdLength: 64,
  authorizePublish: (_client, _packet, done) => {
    count++;
    done(null);
  },
});
const server = createServer({ noDelay: true }, broker.handle);
server.listen(0, "127.0.0.1", () => {
  const address = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ msg: "ready", port: address.port })}\n`);
});
process.once("SIGTERM", () => {
  process.stdout.write(`${JSON.stringify({ msg: "count", count })}\n`);
  server.close();
  broker.close(() => process.exit(0));
});

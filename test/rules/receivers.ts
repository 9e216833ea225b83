/** Real loopback receivers for the sink tests: an HTTP webhook endpoint and an MLLP alert manager. */
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { Hl7Message } from "@medplum/core";
import { frameMllp, MllpDeframer } from "../../src/rules/sinks/mllp.js";
import { verifyWebhook } from "../../src/rules/sinks/webhook.js";
import { listenAgain } from "../helpers/ports.js";

export interface WebhookHit {
  body: string;
  eventId: string;
  isSignatureValid: boolean;
}

/**
 * An HTTP receiver on 127.0.0.1 that checks signatures; `status()` picks each response code. `port`: 0, or
 * the port of a receiver that was closed to simulate an outage (waited for while another process holds it).
 */
export async function startWebhookReceiver(secret: string, port = 0) {
  const hits: WebhookHit[] = [];
  let status: (hit: WebhookHit) => number = () => 204;
  const server: HttpServer = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const hit: WebhookHit = {
        body,
        eventId: String(req.headers["x-vitalog-event-id"]),
        isSignatureValid: verifyWebhook(
          secret,
          {
            signature: req.headers["x-vitalog-signature"] as string | undefined,
            timestamp: req.headers["x-vitalog-timestamp"] as string | undefined,
          },
          body,
          Math.floor(Date.now() / 1000),
        ),
      };
      hits.push(hit);
      res.writeHead(status(hit)).end();
    });
  });
  await listenAgain(server, port, "webhook receiver");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`,
    hits,
    /** Bodies of the 2xx-answered requests, parsed. */
    accepted: [] as unknown[],
    setStatus(fn: (hit: WebhookHit) => number) {
      status = fn;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface MllpHit {
  message: string;
  controlId: string;
  answered: string | null;
}

/**
 * A small HL7 alert manager on 127.0.0.1: deframes ORU^R40 messages, reads MSH-10 with @medplum/core's parser,
 * and answers ACK^R40 with the code `respond` picks (null = no answer, to test the ACK timeout). `port`: 0, or
 * the port of a receiver that was closed to simulate an outage (waited for while another process holds it).
 */
export async function startMllpReceiver(port = 0) {
  const hits: MllpHit[] = [];
  const sockets = new Set<Socket>();
  let respond: (hit: MllpHit, index: number) => string | null = () => "AA";
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    const deframer = new MllpDeframer();
    socket.on("data", (chunk: Buffer) => {
      for (const message of deframer.push(chunk)) {
        const controlId = Hl7Message.parse(message).header.getField(10)?.toString() ?? "";
        const hit: MllpHit = { message, controlId, answered: null };
        hits.push(hit);
        const code = respond(hit, hits.length - 1);
        hit.answered = code;
        if (code === null) continue;
        const ack = [
          `MSH|^~\\&|AM|HOSP|VITALOG||20260101000000+0000||ACK^R40^ACK|ack-${hits.length}|P|2.6`,
          `MSA|${code}|${hit.controlId}${code === "AA" ? "" : "|refused by test"}`,
        ].join("\r");
        socket.write(frameMllp(ack));
      }
    });
  });
  await listenAgain(server, port, "MLLP receiver");
  return {
    port: (server.address() as AddressInfo).port,
    hits,
    get connections() {
      return connections;
    },
    setRespond(fn: (hit: MllpHit, index: number) => string | null) {
      respond = fn;
    },
    /** Drops every open connection (the alert manager restarting). */
    dropConnections() {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * Field `n` (1-based, MSH-1 being the field separator) of the first segment named `seg`, as sent (escape
 * sequences kept), read with @medplum/core's HL7 v2 parser rather than ours.
 */
export function hl7Field(message: string, seg: string, n: number): string | undefined {
  return Hl7Message.parse(message).getSegment(seg)?.getField(n)?.toString();
}

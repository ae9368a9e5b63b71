// A webhook receiver as an app written for Node would run it
// (docs/webhooks.md): every POST is verified with the standardwebhooks
// package (signature over id.timestamp.body, timestamp within five
// minutes) before it is believed.
//
// Usage: PORT=8787 WEBHOOK_SECRET=whsec_… [MODE=accept|flaky|refuse|hang] node receiver.mjs
//   accept  answers 204 to every verified event (the default)
//   flaky   answers 503 the first time it sees a webhook-id, 204 after
//   refuse  answers 410 to every verified event
//   hang    never answers (logs the request with status 0)
// An event that does not verify gets 400. Prints "listening PORT", then
// one JSON line per request: {id, status, verified, error?, event?}.
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";

const wh = new Webhook(process.env.WEBHOOK_SECRET); // "whsec_…", as Latch has it
const mode = process.env.MODE ?? "accept";
const seen = new Set();

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const id = req.headers["webhook-id"] ?? "";
    const line = { id, timestamp: req.headers["webhook-timestamp"] ?? "" };
    try {
      line.event = wh.verify(body, req.headers);
      line.verified = true;
      if (mode === "hang") {
        line.status = 0;
      } else if (mode === "refuse") {
        line.status = 410;
      } else if (mode === "flaky" && !seen.has(id)) {
        line.status = 503;
      } else {
        line.status = 204;
      }
      seen.add(id);
    } catch (err) {
      line.verified = false;
      line.error = String(err.message ?? err);
      line.status = 400;
    }
    console.log(JSON.stringify(line));
    if (line.status !== 0) {
      res.writeHead(line.status).end();
    }
  });
});

server.listen(Number(process.env.PORT), "127.0.0.1", () => {
  console.log(`listening ${server.address().port}`);
});
process.on("SIGTERM", () => {
  server.close(() => process.exit(0));
  server.closeAllConnections(); // idle keep-alive connections too
});

#!/usr/bin/env node
// The Cosmos DB stand-in: @vercel/cosmosdb-server over plain HTTP, with two of its gaps closed.
//  - The stock CLI answers every request with "Connection: close"; here connections are kept alive.
//  - Reading a document that does not exist throws inside the server and answers 500; real Cosmos DB
//    answers 404 NotFound, which is what this wrapper sends instead.
// With --tls it serves HTTPS instead (the transport's tests and benchmark), with the package's bundled
// self-signed certificate: it has expired and names no host, so clients pass connection_verify=False.
// Usage: node devstack/cosmos_server.js PORT [HOST] [--tls]
"use strict";
const { createHttpServer, createHttpsServer } = require("@vercel/cosmosdb-server");

const tls = process.argv.includes("--tls");
const [portArg, hostArg] = process.argv.slice(2).filter((a) => a !== "--tls");
const port = parseInt(portArg || "8081", 10);
const host = hostArg || "127.0.0.1";
const DOC_PATH = /^\/dbs\/[^/]+\/colls\/[^/]+\/docs\/[^/?]+/;
const NOT_FOUND = JSON.stringify({
  code: "NotFound",
  message: "Entity with the specified id does not exist in the system.",
});

const server = (tls ? createHttpsServer : createHttpServer)({ keepAlive: true });
const [handle] = server.listeners("request");
server.removeAllListeners("request");
server.on("request", (req, res) => {
  if (req.method === "GET" && DOC_PATH.test(req.url)) {
    const end = res.end.bind(res);
    res.end = (body, ...rest) => {
      if (res.statusCode === 500) {
        res.statusCode = 404;
        return end(NOT_FOUND, ...rest);
      }
      return end(body, ...rest);
    };
  }
  handle(req, res);
});
// The server logs each missing-document TypeError before we rewrite it; keep the log readable.
const logError = console.error;
console.error = (err, ...rest) => {
  if (err instanceof TypeError && /reading '/.test(err.message)) return;
  logError(err, ...rest);
};
server.keepAliveTimeout = 65000;
server.headersTimeout = 66000;
server.listen(port, host, () => {
  console.log(`Cosmos DB stand-in listening on ${tls ? "https" : "http"}://${host}:${port}`);
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(0));

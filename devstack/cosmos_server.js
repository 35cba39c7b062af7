#!/usr/bin/env node
// The Cosmos DB stand-in: @vercel/cosmosdb-server over plain HTTP, with two of its gaps closed.
//  - The stock CLI answers every request with "Connection: close"; here connections are kept alive.
//  - Reading a document that does not exist throws inside the server and answers 500; real Cosmos DB
//    answers 404 NotFound, which is what this wrapper sends instead.
// With --tls it serves HTTPS instead (the transport's tests and benchmark), with the package's bundled
// self-signed certificate: it has expired and names no host, so clients pass connection_verify=False.
// With --data PATH it keeps its data across restarts (`make run`): see "Persistence" below. Without
// it, everything lives in memory only and is gone when the process ends (the tests on free ports).
// Usage: node devstack/cosmos_server.js PORT [HOST] [--tls] [--data PATH] [--snapshot-seconds N]
"use strict";
const fs = require("fs");
const path = require("path");
const { createHttpServer, createHttpsServer } = require("@vercel/cosmosdb-server");

// The query engine (@zeit/cosmosdb-query) builds FROM and JOIN as reduce(($, c) => [...$, {c}], []),
// which copies the accumulator for every document: O(n^2) per query (100,000 turns: a minute, the
// server answering nothing else meanwhile). Rewrite those reducers to push onto the accumulator: the
// same results, in O(n).
const transformerModule = require("@zeit/cosmosdb-query/lib/transformer");
function pushing(body) {
  if (body.type === "ConditionalExpression") {
    return { ...body, consequent: pushing(body.consequent), alternate: pushing(body.alternate) };
  }
  if (body.type !== "ArrayExpression" || !body.elements.length) return body;
  const [first, ...rest] = body.elements;
  if (!first || first.type !== "SpreadElement" || first.argument.type !== "Identifier" || first.argument.name !== "$") {
    return body;
  }
  const acc = { type: "Identifier", name: "$" };
  const push = { type: "MemberExpression", object: acc, property: { type: "Identifier", name: "push" } };
  return { type: "SequenceExpression", expressions: [{ type: "CallExpression", callee: push, arguments: rest }, acc] };
}
function linear(node) {
  if (!node || typeof node !== "object") return node;
  if (Array.isArray(node)) return node.map(linear);
  for (const key of Object.keys(node)) node[key] = linear(node[key]);
  if (node.type === "ArrowFunctionExpression" && node.params.length === 2 && node.params[0].type === "Identifier"
      && node.params[0].name === "$") node.body = pushing(node.body);
  return node;
}
const originalTransform = transformerModule.default;
transformerModule.default = (ast) => linear(originalTransform(ast));

// ORDER BY (and the sort by _rid of every query over FROM without one) sorts the whole filtered set
// with a comparator that looks each key up again, by a recursive destructuring getValue, on each of
// the ~n log n comparisons: over 100,000 turns, ~230 ms of the stand-in's time for the turn log's
// `SELECT TOP 51 * FROM c ORDER BY c.received_at DESC` (the admin site's Conversations page). For no
// or one ORDER BY field, each row's key and _rid are looked up once, then sorted with the same
// comparisons (the package's comparator, copied below) by the same stable sort over the same input
// order, so the result is the same, ties included; rows without the key are dropped afterwards, as
// the package does: ~45 ms for that query. Several fields (composite indexes, which the package
// checks) keep the package's sort. tests/admin_site/test_documents.py compares the two.
const helpers = require("@zeit/cosmosdb-query/lib/helpers");
const TYPE_ORDER = ["undefined", "null", "boolean", "number", "string", "array", "object"];
function typeOf(v) {
  const t = typeof v;
  if (t !== "object") return t;
  if (v === null) return "null";
  return Array.isArray(v) ? "array" : t;
}
function comparator(a, b) { // helpers.js `comparator` (not exported), unchanged
  if (a === b) return 0;
  const aType = typeOf(a);
  const bType = typeOf(b);
  if (aType === bType) {
    if (aType === "object") return 0;
    return a < b ? -1 : 1;
  }
  for (const type of TYPE_ORDER) {
    if (aType === type) return -1;
    if (bType === type) return 1;
  }
  return 0;
}
function valueAt(doc, keys) { // helpers.js `getValue`, iteratively
  let value = doc;
  for (let i = 0; i < keys.length; i += 1) {
    value = typeof value === "object" && value ? value[keys[i]] : undefined;
    if (typeof value === "undefined") return undefined;
  }
  return value;
}
const packageSort = helpers.sort;
helpers.sort = (collection, getRid, compositeIndexes, ...orders) => {
  if (orders.length > 1) return packageSort(collection, getRid, compositeIndexes, ...orders);
  const [keys, desc] = orders.length ? orders[0] : [null, false];
  const rows = collection.map((row) => ({ row, key: keys && valueAt(row, keys), rid: getRid(row) }));
  rows.sort((a, b) => {
    if (keys) {
      const r = comparator(a.key, b.key);
      if (r !== 0) return desc ? -r : r;
    }
    return comparator(a.rid, b.rid);
  });
  const kept = keys ? rows.filter((r) => typeof r.key !== "undefined") : rows;
  return kept.map((r) => r.row);
};

const USAGE =
  "usage: node devstack/cosmos_server.js PORT [HOST] [--tls] [--data PATH] [--snapshot-seconds N]";
const positional = [];
let tls = false;
let dataPath = null;
let snapshotSeconds = 30;
for (let i = 2; i < process.argv.length; i += 1) {
  const arg = process.argv[i];
  if (arg === "--tls") tls = true;
  else if (arg === "--data" && i + 1 < process.argv.length) dataPath = path.resolve(process.argv[(i += 1)]);
  else if (arg === "--snapshot-seconds" && i + 1 < process.argv.length) {
    snapshotSeconds = Number(process.argv[(i += 1)]);
  } else if (arg.startsWith("--")) {
    console.error(`unknown or incomplete option ${arg}\n${USAGE}`);
    process.exit(2);
  } else positional.push(arg);
}
if (!(snapshotSeconds > 0)) {
  console.error(`--snapshot-seconds must be a positive number\n${USAGE}`);
  process.exit(2);
}
const [portArg, hostArg] = positional;
const port = parseInt(portArg || "8081", 10);
const host = hostArg || "127.0.0.1";
const DOC_PATH = /^\/dbs\/[^/]+\/colls\/[^/]+\/docs\/[^/?]+/;
const NOT_FOUND = JSON.stringify({
  code: "NotFound",
  message: "Entity with the specified id does not exist in the system.",
});

// ---- Persistence ---------------------------------------------------------------------------------
// The package keeps its whole state in one `Account` object, built when the server starts listening
// and held in a closure. Each level is an `Items` (databases, a database's collections, a
// collection's documents and user-defined functions): `_data` maps a resource's _rid to its object,
// whose read() is the resource exactly as served (id, body, _rid, _self, _etag, _ts); `_index` maps
// (partition, key path, value) to that _rid; `_ridCount` numbers the next _rid. An ETag is nothing
// but the stored `_etag` (a random UUID per write), which If-Match is compared with.
// So the snapshot is those resources verbatim plus each `_ridCount`, and the restore puts them back
// with `Items._set` (the package's own insert, which also rebuilds `_index`): ETags, _ts and _rids
// come back unchanged, so a client holding an ETag from before the restart still gets 412 exactly
// when the document changed since, and new resources never reuse a restored _rid. Replaying the
// resources as requests instead would give every document a new ETag and _ts.
// The snapshot is written when the process is asked to stop (SIGINT, SIGTERM) and, when something
// changed, every --snapshot-seconds (30 s by default): a crash or SIGKILL loses at most the writes
// of that last interval. Each write goes to a temporary file in the same folder, renamed over the
// old one, so a crash mid-write never leaves a torn snapshot.
const SNAPSHOT_FORMAT = "switchboard-cosmos-snapshot/1";
let account = null; // the server's Account, once it listens
let changes = 0; // bumped by every insert and delete in the package's stores
let savedChanges = 0; // `changes` as of the last snapshot written (or restored)

function readSnapshot(file) {
  let text;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if (err.code === "ENOENT") return null; // first start: nothing to restore
    throw err;
  }
  const snapshot = JSON.parse(text);
  if (!snapshot || snapshot.format !== SNAPSHOT_FORMAT || !Array.isArray(snapshot.databases)) {
    throw new Error(`not a ${SNAPSHOT_FORMAT} file`);
  }
  return snapshot;
}

// Numbering resumes after the saved counter; the loop only matters for a snapshot without one.
function restoreCounter(items, saved) {
  items._ridCount = Number.isInteger(saved) ? saved : items._data.size;
  while (items._data.has(items._rid(items._ridCount + 1))) items._ridCount += 1;
}

function restore(acct, snapshot) {
  let documents = 0;
  let containers = 0;
  for (const db of snapshot.databases) {
    acct.databases._set(db.resource);
    const database = acct.databases._data.get(db.resource._rid);
    for (const coll of db.collections) {
      database.collections._set(coll.resource); // a new Collection, with its partition key paths
      const collection = database.collections._data.get(coll.resource._rid);
      for (const doc of coll.documents) collection.documents._set(doc);
      restoreCounter(collection.documents, coll.ridCount);
      const udfs = collection.userDefinedFunctions;
      for (const udf of coll.udfs || []) {
        udfs._set(udf);
        // As the package compiles them on create (user-defined-functions.js `define`).
        udfs.functions[udf.id] = new Function(`"use strict";return (${udf.body})`)();
      }
      restoreCounter(udfs, coll.udfRidCount);
      containers += 1;
      documents += coll.documents.length;
    }
    restoreCounter(database.collections, db.ridCount);
  }
  restoreCounter(acct.databases, snapshot.ridCount);
  return { databases: snapshot.databases.length, containers, documents };
}

function takeSnapshot(acct) {
  const values = (items) => [...items._data.values()].map((item) => item.read());
  return {
    format: SNAPSHOT_FORMAT,
    ridCount: acct.databases._ridCount,
    databases: [...acct.databases._data.values()].map((database) => ({
      resource: database.read(),
      ridCount: database.collections._ridCount,
      collections: [...database.collections._data.values()].map((collection) => ({
        resource: collection.read(),
        ridCount: collection.documents._ridCount,
        documents: values(collection.documents),
        udfRidCount: collection.userDefinedFunctions._ridCount,
        udfs: values(collection.userDefinedFunctions),
      })),
    })),
  };
}

// Synchronous on purpose: nothing can change the data halfway through, and the signal handlers can
// write it before they exit. At a development stack's size it takes milliseconds.
function saveSnapshot() {
  if (!account || changes === savedChanges) return;
  const at = changes;
  const text = JSON.stringify(takeSnapshot(account));
  const tmp = path.join(path.dirname(dataPath), `.${path.basename(dataPath)}.${process.pid}.tmp`);
  fs.mkdirSync(path.dirname(dataPath), { recursive: true });
  const fd = fs.openSync(tmp, "w");
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, dataPath);
  savedChanges = at;
}

if (dataPath) {
  let snapshot;
  try {
    snapshot = readSnapshot(dataPath);
  } catch (err) {
    // Starting empty would overwrite the data at the next snapshot: refuse instead.
    console.error(`cannot restore the Cosmos DB stand-in's data from ${dataPath}: ${err.message}`);
    process.exit(1);
  }
  // The package builds its Account as `new (require("./account").default)(host, port)` when the
  // server starts listening: a subclass there hands it to us, filled, before any request is served.
  const accountModule = require("@vercel/cosmosdb-server/lib/account");
  const Items = require("@vercel/cosmosdb-server/lib/account/items").default;
  const Account = accountModule.default;
  accountModule.default = class PersistentAccount extends Account {
    constructor(...args) {
      super(...args);
      account = this;
      if (snapshot) {
        let n;
        try {
          n = restore(this, snapshot);
        } catch (err) {
          console.error(`cannot restore the Cosmos DB stand-in's data from ${dataPath}: ${err.message}`);
          process.exit(1);
        }
        console.log(`restored ${n.documents} documents in ${n.containers} containers of ${n.databases} ` +
          `databases from ${dataPath}`);
      }
      changes = savedChanges = 0; // restoring is no change to write back
    }
  };
  // Every insert, replace (a delete, then an insert), upsert and delete in every store ends in one of
  // these two, so they tell whether there is anything new to write.
  for (const method of ["_set", "delete"]) {
    const original = Items.prototype[method];
    Items.prototype[method] = function tracked(...args) {
      const result = original.apply(this, args);
      changes += 1;
      return result;
    };
  }
  setInterval(() => {
    try {
      saveSnapshot();
    } catch (err) {
      console.error(`could not write the snapshot ${dataPath} (will retry): ${err.message}`);
    }
  }, snapshotSeconds * 1000).unref();
}

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
  console.log(`Cosmos DB stand-in listening on ${tls ? "https" : "http"}://${host}:${port}` +
    (dataPath ? `, its data kept in ${dataPath}` : ""));
});
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    if (!dataPath) process.exit(0);
    try {
      saveSnapshot();
    } catch (err) {
      console.error(`could not write the snapshot ${dataPath}: ${err.message}`);
      process.exit(1);
    }
    process.exit(0);
  });
}

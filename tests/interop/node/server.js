'use strict';
// A node `ws` server for the interop tests: listens on 127.0.0.1 (HTTPS with
// --cert/--key), prints {"port": N}, runs the commanded echo on every
// connection and reports each close as a JSON line. Runs until killed.
//
//   node server.js --ws-module DIR --config JSON [--cert PEM --key PEM]

const fs = require('fs');
const http = require('http');
const https = require('https');
const { parseArgs, commandedEcho, report } = require('./common');

const args = parseArgs(process.argv.slice(2));
const WebSocket = require(args['ws-module']);
const config = JSON.parse(args.config);

const server = args.cert
  ? https.createServer({ cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key) })
  : http.createServer();
const wss = new WebSocket.WebSocketServer({
  server,
  // Off by default in node's ws server; the peer allows it, and the test
  // decides on its own side whether it is used.
  perMessageDeflate: true,
  maxPayload: config.maxSize,
  handleProtocols: (offered) => (offered.has(config.subprotocol) ? config.subprotocol : false),
});
wss.on('connection', (ws) => commandedEcho(ws, config, () => {}));
server.listen(0, '127.0.0.1', () => report({ port: server.address().port }));

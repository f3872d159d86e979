'use strict';
// A node `ws` client for the interop tests: connects to --url twice, one
// connection after the other, runs the commanded echo on each, reports each
// close as a JSON line, and exits 0.
//
//   node client.js --ws-module DIR --config JSON --url URL [--ca PEM]

const fs = require('fs');
const { parseArgs, commandedEcho, die, TIMEOUT_MS } = require('./common');

const args = parseArgs(process.argv.slice(2));
const WebSocket = require(args['ws-module']);
const config = JSON.parse(args.config);
const options = { maxPayload: config.maxSize, handshakeTimeout: TIMEOUT_MS };
if (args.ca) options.ca = fs.readFileSync(args.ca);

function connect(remaining) {
  if (remaining === 0) {
    process.exit(0);
  }
  const ws = new WebSocket(args.url, config.subprotocols, options);
  commandedEcho(ws, config, () => connect(remaining - 1));
}

setTimeout(() => die('still running after 30 s'), 30000).unref();
connect(2);

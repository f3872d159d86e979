'use strict';
// Shared by client.js and server.js: the commanded echo of the interop tests
// (see tests/interop/constants.py) on node's `ws` package, and reporting to
// the test as JSON lines on stdout.

const TIMEOUT_MS = 10000;

/** Parse `--name value` pairs into an object. */
function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || i + 1 >= argv.length) {
      throw new Error(`bad arguments: ${argv.join(' ')}`);
    }
    args[argv[i].slice(2)] = argv[i + 1];
  }
  for (const required of ['ws-module', 'config']) {
    if (!(required in args)) throw new Error(`missing --${required}`);
  }
  return args;
}

/** Print one JSON object on a line of its own, for the test. */
function report(data) {
  process.stdout.write(JSON.stringify(data) + '\n');
}

/** Exit with an error the test will show (from stderr). */
function die(message) {
  process.stderr.write(`node peer: ${message}\n`);
  process.exit(1);
}

/**
 * Echo every message back, except the text commands of `config`; when the
 * connection closes, report the close code and reason received and call
 * `onClosed`.
 */
function commandedEcho(ws, config, onClosed) {
  ws.on('error', (err) => die(`connection error: ${err.stack || err}`));
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      ws.send(data, { binary: true });
      return;
    }
    const text = data.toString('utf8');
    if (text === config.commandInfo) {
      ws.send(JSON.stringify({ subprotocol: ws.protocol, extensions: ws.extensions }));
    } else if (text === config.commandPing) {
      const timer = setTimeout(() => die('no pong for our ping'), TIMEOUT_MS);
      ws.once('pong', (payload) => {
        clearTimeout(timer);
        if (payload.toString('utf8') !== config.pingPayload) {
          die(`pong payload ${JSON.stringify(payload.toString('utf8'))} does not match the ping`);
        }
        ws.send(config.pongOk);
      });
      ws.ping(Buffer.from(config.pingPayload, 'utf8'));
    } else if (text === config.commandClose) {
      ws.close(config.closeCode, config.closeReason);
    } else {
      ws.send(text, { binary: false });
    }
  });
  ws.on('close', (code, reason) => {
    report({ code, reason: reason.toString('utf8') });
    onClosed();
  });
}

module.exports = { parseArgs, report, die, commandedEcho, TIMEOUT_MS };

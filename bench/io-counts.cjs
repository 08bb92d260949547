/**
 * A preload that counts what a process asks of its servers: socket writes per remote port (5432 Postgres,
 * 9092 Kafka, 6379 Redis) and node-postgres statements by their first 70 characters, printed to stderr
 * at exit. On this machine kind each loopback write costs the sender the receiver's network work too, so
 * the count of round trips, not bytes, is what a loop's CPU follows (docs/performance.md). E.g.:
 *
 *   node --require ./bench/io-counts.cjs bench/decision-roundtrip.ts --agent --rate 1000 --seconds 10
 */
const net = require('node:net');
const Module = require('node:module');

const writes = new Map();
const statements = new Map();
const started = Date.now();
const count = (map, key) => map.set(key, (map.get(key) ?? 0) + 1);

const writeGeneric = net.Socket.prototype._writeGeneric;
net.Socket.prototype._writeGeneric = function (writev, data, encoding, cb) {
  count(writes, `${this.remotePort}:${writev ? 'writev' : 'write'}`);
  return writeGeneric.call(this, writev, data, encoding, cb);
};

// node-postgres' Client.query, patched when 'pg' is first loaded.
const load = Module._load;
let patched = false;
Module._load = function (request, ...rest) {
  const loaded = load.call(this, request, ...rest);
  if (!patched && request === 'pg' && loaded?.Client) {
    patched = true;
    const query = loaded.Client.prototype.query;
    loaded.Client.prototype.query = function (text, ...args) {
      const sql = typeof text === 'string' ? text : (text?.text ?? '?');
      count(statements, sql.replace(/\s+/g, ' ').trim().slice(0, 70));
      return query.call(this, text, ...args);
    };
  }
  return loaded;
};

process.on('exit', () => {
  const seconds = (Date.now() - started) / 1000;
  const out = [`[io-counts] over ${seconds.toFixed(1)} s`];
  for (const [k, v] of [...writes].sort((a, b) => b[1] - a[1]))
    out.push(`  socket ${k}: ${v} (${Math.round(v / seconds)}/s)`);
  for (const [k, v] of [...statements].sort((a, b) => b[1] - a[1]).slice(0, 25)) out.push(`  sql ${v} ${k}`);
  process.stderr.write(`${out.join('\n')}\n`);
});

// The web role: Redis, then the database, then HTTP + Socket.IO on SERVER_PORT (any failure exits 1).
'use strict';
const { redisClient, mysqlConnection, fatal } = require('./lib');
const fs = require('fs');
const http = require('http');
const { Server } = require('socket.io');

async function main() {
  const neededAtLoad = ['PRELUDE_API_KEY', 'SPRIBE_CLIENT_ID', 'SPRIBE_CLIENT_SECRET', 'CASINO_AGENCY_UID', 'CASINO_AES_KEY'];
  for (const name of neededAtLoad) {
    if (!process.env[name]) throw new Error(`${name} is required`);
  }
  const redis = redisClient();
  await redis.ping();
  const db = await mysqlConnection();
  const [rows] = await db.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
  // For the test: what dotenv read (compared with what the bootstrap meant to write) and the DB session's TLS.
  const names = Object.keys(process.env).filter((k) => /^[A-Z_][A-Z0-9_]*$/.test(k));
  const seen = { env: Object.fromEntries(names.map((k) => [k, process.env[k]])) };
  seen.dbCipher = rows[0].Value;
  seen.nodeOptions = process.env.NODE_OPTIONS;
  fs.writeFileSync('web-seen.json', JSON.stringify(seen));
  const server = http.createServer((req, res) => {
    if (req.url === '/health' || req.url === '/api/health') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"status":"ok"}');
      return;
    }
    res.writeHead(404);
    res.end();
  });
  const io = new Server(server, { path: '/socket.io', transports: ['polling', 'websocket'] });
  io.on('connection', (socket) => socket.emit('hello', process.env.INSTANCE_ID));
  io.of('/admin');
  server.listen(Number(process.env.SERVER_PORT));
}

main().catch(fatal);

// What every process of the stand-in shares, read the way the duewin backend reads it: dotenv from the
// working directory, REDIS_HOST/PORT/PASSWORD/DB/TLS (never REDIS_URL), DB_HOST/PORT/NAME/USER/PASS.
'use strict';
require('dotenv').config();
const fs = require('fs');
const Redis = require('ioredis');

function redisClient() {
  if (!process.env.REDIS_HOST) throw new Error('REDIS_HOST is not set');
  return new Redis({
    host: process.env.REDIS_HOST,
    port: Number(process.env.REDIS_PORT),
    password: process.env.REDIS_PASSWORD,
    db: Number(process.env.REDIS_DB),
    tls: process.env.REDIS_TLS === 'true' ? {} : undefined,
    maxRetriesPerRequest: 2,
  });
}

async function mysqlConnection() {
  const mysql = require('mysql2/promise');
  // The app-side TLS fix of docs/infrastructure.md: the RDS CA bundle the bootstrap names in DB_SSL_CA.
  const ssl = process.env.DB_SSL_CA ? { ca: fs.readFileSync(process.env.DB_SSL_CA) } : undefined;
  return mysql.createConnection({
    host: process.env.DB_HOST,
    port: Number(process.env.DB_PORT),
    database: process.env.DB_NAME,
    user: process.env.DB_USER,
    password: process.env.DB_PASS,
    ssl,
  });
}

function fatal(error) {
  console.error(`fatal: ${error.message}`);
  process.exit(1);
}

module.exports = { redisClient, mysqlConnection, fatal };

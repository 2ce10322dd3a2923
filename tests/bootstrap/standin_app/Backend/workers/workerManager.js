// The BullMQ workers' stand-in: runs on every host; a heartbeat key per process.
'use strict';
const { redisClient, fatal } = require('../lib');

const redis = redisClient();
const key = `worker:${process.env.INSTANCE_ID}:${process.pid}`;
setInterval(() => redis.set(key, '1', 'PX', 1500).catch(fatal), 250);

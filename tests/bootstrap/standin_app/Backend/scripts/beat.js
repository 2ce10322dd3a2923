// A scheduler's stand-in: must run once in the fleet; appends (instance, pid) to a stream every 100 ms.
'use strict';
const { redisClient, fatal } = require('../lib');

module.exports = function beat(stream) {
  const redis = redisClient();
  setInterval(() => {
    redis.xadd(stream, '*', 'who', `${process.env.INSTANCE_ID}/${process.pid}`).catch(fatal);
  }, 100);
};

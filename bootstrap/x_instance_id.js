// Preloaded into the web process (NODE_OPTIONS=--require this file) by the instance bootstrap:
// every HTTP response gets an X-Instance-Id header naming the EC2 instance, without touching the
// app, so `infra check-scaling` can tell the instances behind the load balancer apart.
'use strict';
const http = require('http');

const writeHead = http.ServerResponse.prototype.writeHead;
http.ServerResponse.prototype.writeHead = function writeHeadWithInstanceId(...args) {
  // Read per response: the app's dotenv fills process.env after this file has run.
  const id = process.env.INSTANCE_ID;
  if (id && !this.headersSent && !this.hasHeader('X-Instance-Id')) {
    this.setHeader('X-Instance-Id', id);
  }
  return writeHead.apply(this, args);
};

'use strict';
// Preloaded into node (NODE_OPTIONS=--require) by hubsync's conformance tests: refuse every
// connection and name lookup that would leave this machine, so hs's error reporter
// (Sentry) and anything else can never reach the internet. Loopback stays open.
const net = require('net');
const dns = require('dns');

function isLoopback(host) {
  if (host === undefined || host === null || host === '') return true; // node's default: localhost
  const h = String(host).replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\./.test(h) || /^::ffff:127\./.test(h);
}

function refused(what) {
  const error = new Error(`hubsync conformance: ${what} refused (loopback only)`);
  error.code = 'ECONNREFUSED';
  if (process.env.HUBSYNC_DENIED_LOG) {
    try { require('fs').appendFileSync(process.env.HUBSYNC_DENIED_LOG, what + '\n'); } catch (e) { /* best effort */ }
  }
  return error;
}

const originalConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function connect(...args) {
  let first = args[0];
  if (Array.isArray(first)) first = first[0]; // node's internal normalized form
  let host;
  if (first && typeof first === 'object') {
    if (first.path) return originalConnect.apply(this, args); // a unix socket
    host = first.host;
  } else if (typeof first === 'number' || /^\d+$/.test(String(first))) {
    host = typeof args[1] === 'string' ? args[1] : undefined;
  } else if (typeof first === 'string') {
    return originalConnect.apply(this, args); // a unix socket path
  }
  if (!isLoopback(host)) {
    const error = refused(`connect to ${host}`);
    process.nextTick(() => this.destroy(error));
    return this;
  }
  return originalConnect.apply(this, args);
};

const originalLookup = dns.lookup;
dns.lookup = function lookup(hostname, options, callback) {
  if (!isLoopback(hostname)) {
    const cb = typeof options === 'function' ? options : callback;
    const error = refused(`lookup of ${hostname}`);
    error.code = 'ENOTFOUND';
    process.nextTick(() => cb(error));
    return {};
  }
  return originalLookup.call(this, hostname, options, callback);
};
const originalPromiseLookup = dns.promises.lookup;
dns.promises.lookup = function lookup(hostname, options) {
  if (!isLoopback(hostname)) {
    const error = refused(`lookup of ${hostname}`);
    error.code = 'ENOTFOUND';
    return Promise.reject(error);
  }
  return originalPromiseLookup.call(this, hostname, options);
};

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeServer, serverAddress, serverTarget } from './settings.js';

const v4 = { engine: 'postgresql' as const, host: 'db.example.org', port: 5432, user: 'harvester', schema: 'harvester' };
const v6 = { ...v4, host: '::ffff:127.0.0.1' };

test('a host name or IPv4 address is written host:port', () => {
  assert.equal(serverAddress(v4), 'db.example.org:5432');
  assert.equal(serverTarget(v4), 'db.example.org:5432 as user harvester');
  assert.equal(describeServer(v4), 'postgresql://harvester@db.example.org:5432/harvester');
});

test('an IPv6 address is bracketed everywhere a server is named, so the port stays readable', () => {
  assert.equal(serverAddress(v6), '[::ffff:127.0.0.1]:5432');
  assert.equal(serverTarget(v6), '[::ffff:127.0.0.1]:5432 as user harvester');
  assert.equal(describeServer(v6), 'postgresql://harvester@[::ffff:127.0.0.1]:5432/harvester');
});

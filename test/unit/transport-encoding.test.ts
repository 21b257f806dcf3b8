// The stream line of a Raft message (storage-node/src/transport/http-transport.ts): entries are
// encoded once for every follower, and the line still parses back to the message it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { messageJson } from '../../storage-node/src/transport/http-transport.ts';
import type { Entry, Message } from '../../storage-node/src/raft/types.ts';

const entries: Entry[] = [
  { index: 7, term: 2, type: 'normal', data: JSON.stringify({ op: 'put', name: 'a "quoted" name\n', inline: 'aGVsbG8=' }) },
  { index: 8, term: 2, type: 'noop', data: '' },
  { index: 9, term: 3, type: 'config', data: '{"voters":["n1","n2"]}' },
];

test('an append parses back to itself, for every follower it goes to, entries and all', () => {
  for (const to of ['n2', 'n3']) {
    const message: Message = { type: 'AppendEntries', from: 'n1', to, term: 3, prevLogIndex: 6, prevLogTerm: 2, entries, commit: 6 };
    assert.deepEqual(JSON.parse(messageJson(message)), message);
  }
});

test('messages without entries are plain JSON', () => {
  const messages: Message[] = [
    { type: 'AppendEntries', from: 'n1', to: 'n2', term: 3, prevLogIndex: 6, prevLogTerm: 2, entries: [], commit: 6 },
    { type: 'Heartbeat', from: 'n1', to: 'n2', term: 3, commit: 6, seq: 4 },
  ];
  for (const message of messages) assert.equal(messageJson(message), JSON.stringify(message));
});

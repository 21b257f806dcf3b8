// One-line renderings of messages and entries for simulation traces and violation reports.
import type { Entry, Message } from '../../storage-node/src/raft/types.ts';

export function formatEntry(e: Entry): string {
  if (e.type === 'noop') return `${e.index}/${e.term}:noop`;
  if (e.type === 'config') return `${e.index}/${e.term}:config`;
  return `${e.index}/${e.term}:${e.data.length > 60 ? `${e.data.slice(0, 57)}...` : e.data}`;
}

export function formatEntries(entries: readonly Entry[]): string {
  if (entries.length === 0) return '[]';
  if (entries.length <= 3) return `[${entries.map((e) => `${e.index}/${e.term}`).join(' ')}]`;
  const first = entries[0];
  const last = entries[entries.length - 1];
  return `[${first.index}/${first.term}..${last.index}/${last.term} (${entries.length})]`;
}

export function formatMessage(m: Message): string {
  const head = `${m.type} ${m.from}->${m.to} t${m.term}`;
  switch (m.type) {
    case 'PreVote':
    case 'RequestVote':
      return `${head} last=${m.lastLogIndex}/${m.lastLogTerm}${m.type === 'RequestVote' && m.transfer ? ' transfer' : ''}`;
    case 'PreVoteResponse':
    case 'RequestVoteResponse':
      return `${head} ${m.granted ? 'granted' : 'rejected'}`;
    case 'AppendEntries':
      return `${head} prev=${m.prevLogIndex}/${m.prevLogTerm} entries=${formatEntries(m.entries)} commit=${m.commit}`;
    case 'AppendEntriesResponse':
      return m.success
        ? `${head} ok match=${m.matchIndex}`
        : `${head} reject conflict=${m.conflictIndex}/${m.conflictTerm}`;
    case 'Heartbeat':
      return `${head} commit=${m.commit} seq=${m.seq}`;
    case 'HeartbeatResponse':
      return `${head} seq=${m.seq} last=${m.lastLogIndex}`;
    case 'InstallSnapshot':
      return `${head} snapshot=${m.snapshot.index}/${m.snapshot.term}`;
    case 'InstallSnapshotResponse':
      return `${head} ${m.success ? 'ok' : 'fail'} match=${m.matchIndex}`;
    case 'TimeoutNow':
      return head;
    case 'ReadIndex':
      return `${head} reads=${m.requestIds.join(',')}`;
    case 'ReadIndexResponse':
      return `${head} reads=${m.requestIds.join(',')} index=${m.readIndex}`;
  }
}

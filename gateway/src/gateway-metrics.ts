// The gateway's Prometheus metrics (prom-client, one registry per gateway): requests by route,
// method, status and the node that answered; retries; leader changes seen (failovers); and each
// node as the gateway sees it (up, healthy, leader, lag, outstanding requests), read at scrape time.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ClusterView, MemberSnapshot } from './cluster-view.ts';

const name = (suffix: string) => `dfs_gateway_${suffix}`;
/** Seconds until the response headers. */
const requestBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class GatewayMetrics {
  readonly registry = new Registry();
  /** Labels: route, method, status, node (the X-DFS-Node that answered, or "gateway"). */
  readonly requests: Counter<'route' | 'method' | 'status' | 'node'>;
  readonly requestSeconds: Histogram<'route' | 'method'>;
  /** Labels: kind (read, write), reason (unreachable, refused). */
  readonly retries: Counter<'kind' | 'reason'>;
  /** Writes whose leader failed after more than the retry buffer was sent (answered 503). */
  readonly unreplayableWrites: Counter;
  /** S3 API requests by operation (ListBuckets, PutObject, …, "unknown" when refused before routing) and status. */
  readonly s3Requests: Counter<'operation' | 'status'>;
  readonly s3RequestSeconds: Histogram<'operation'>;

  /** Counts one answered request and its time; `node` is the node that answered, or "gateway". */
  recordAnswer(route: string, method: string, status: number, node: string, seconds: number): void {
    this.requestSeconds.observe({ route, method }, seconds);
    this.requests.inc({ route, method, status: String(status), node });
  }

  constructor(view: ClusterView) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: name('requests_total'),
      help: 'Requests answered, by route, method, status and the node that answered (X-DFS-Node, or "gateway")',
      labelNames: ['route', 'method', 'status', 'node'],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: name('request_duration_seconds'),
      help: 'Time until the response headers, retries and waits for a leader included',
      labelNames: ['route', 'method'],
      buckets: requestBuckets,
      registers,
    });
    this.retries = new Counter({
      name: name('retries_total'),
      help: 'Requests sent again to another node or the next leader, by kind (read, write) and reason (unreachable, refused)',
      labelNames: ['kind', 'reason'],
      registers,
    });
    this.unreplayableWrites = new Counter({
      name: name('unreplayable_writes_total'),
      help: 'Writes whose leader failed after more than the retry buffer was sent (answered 503)',
      registers,
    });
    this.s3Requests = new Counter({
      name: name('s3_requests_total'),
      help: 'S3 API requests answered, by operation ("unknown": refused before it was known) and status',
      labelNames: ['operation', 'status'],
      registers,
    });
    this.s3RequestSeconds = new Histogram({
      name: name('s3_request_duration_seconds'),
      help: 'S3 API requests: time until the response headers',
      labelNames: ['operation'],
      buckets: requestBuckets,
      registers,
    });
    for (const kind of ['read', 'write']) for (const reason of ['unreachable', 'refused']) this.retries.inc({ kind, reason }, 0);
    new Counter({
      name: name('leader_changes_total'),
      help: 'Leader changes seen (failovers); the first leader found is not one',
      registers,
      collect() {
        this.reset();
        this.inc(view.leaderChanges());
      },
    });
    new Gauge({
      name: name('leader_known'),
      help: '1 while the gateway knows a leader',
      registers,
      collect() {
        this.set(view.leader() === null ? 0 : 1);
      },
    });
    const perNode = (suffix: string, help: string, read: (m: MemberSnapshot) => number | null) =>
      new Gauge({
        name: name(suffix),
        help,
        labelNames: ['node', 'url'],
        registers,
        collect() {
          this.reset();
          for (const m of view.snapshot().members) {
            const value = read(m);
            if (value !== null) this.set({ node: m.id ?? '', url: m.url }, value);
          }
        },
      });
    perNode('node_up', '1 while the node answers /status', (m) => Number(m.reachable));
    perNode('node_healthy', '1 while the node takes reads (answers, not far behind the leader)', (m) => Number(m.healthy));
    perNode('node_is_leader', '1 for the node the gateway sends writes to', (m) => Number(m.is_leader));
    perNode('node_lag_entries', "How far the node's applied index is behind the leader's", (m) => m.lag);
    perNode('node_outstanding_requests', 'Requests sent to the node and not yet answered in full', (m) => m.outstanding);
    collectDefaultMetrics({ register: this.registry });
  }
}

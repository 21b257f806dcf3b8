// Lets shutdown cut short the chunk passes that ask peers about chunks. A node removed from the
// cluster finds every chunk it stores misplaced (it is no member any more), and its misplaced
// collector asks each holder about each one: a pass of seconds, longer when a peer is paused (a
// HEAD then waits out the whole request timeout). Shutdown awaited that pass, so a removed node
// could overrun its stop budget and exit 1 instead of 0. Once tripped, `has` answers "not there"
// at once, a request in flight included (nothing is then deleted), and the pass ends quickly.
import type { BlobClient } from '../blobs/blob-client.ts';

export class StopSwitch {
  #stopping = false;
  #trip: () => void = () => {};
  readonly #tripped = new Promise<false>((resolve) => (this.#trip = () => resolve(false)));

  get stopping(): boolean {
    return this.#stopping;
  }

  trip(): void {
    this.#stopping = true;
    this.#trip();
  }

  /** `blobClient.has`, answering false from the trip on (the request left behind is ignored). */
  has(blobClient: Pick<BlobClient, 'has'>): Pick<BlobClient, 'has'> {
    return {
      has: (peerId, hash) => (this.#stopping ? Promise.resolve(false) : Promise.race([blobClient.has(peerId, hash), this.#tripped])),
    };
  }
}

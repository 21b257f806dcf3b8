// What every command gets: the client for the chosen endpoint and the output mode.
import type { DfsClient } from './client.ts';

export interface CommandContext {
  readonly client: DfsClient;
  /** --json: one JSON document on stdout instead of human output. */
  readonly json: boolean;
}

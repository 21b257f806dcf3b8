// How our HTTP clients (undici) verify the servers they call: against the CA file given with
// --tls-ca (a self-signed cluster), else the system CAs. Read once per file.
import { readFileSync } from 'node:fs';
import { Agent } from 'undici';

const cas = new Map<string, Buffer>();
const agents = new Map<string, Agent>();

/** undici `connect` options that trust `caPath` (or the system CAs when null). */
export function peerConnectOptions(caPath: string | null): { ca?: Buffer } {
  if (caPath === null) return {};
  let ca = cas.get(caPath);
  if (ca === undefined) {
    ca = readFileSync(caPath);
    cas.set(caPath, ca);
  }
  return { ca };
}

/** A shared Agent that trusts `caPath`; undefined (undici's global dispatcher) when null. */
export function peerAgent(caPath: string | null): Agent | undefined {
  if (caPath === null) return undefined;
  let agent = agents.get(caPath);
  if (agent === undefined) {
    agent = new Agent({ connect: peerConnectOptions(caPath) });
    agents.set(caPath, agent);
  }
  return agent;
}

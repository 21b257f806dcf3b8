// The one place where a file operation becomes a Raft proposal and waits for its outcome: stamp
// it with the HLC, propose, count it, and turn a refusal of the state machine into a FileError.
import { encodeHlc } from '../../../shared/hlc.ts';
import { encodeCommand } from '../metadata/commands.ts';
import type { MetadataCommand, MetadataResult } from '../metadata/commands.ts';
import type { UploadCommand, UploadResult } from '../metadata/upload-commands.ts';
import type { NodeContext } from '../node/node-context.ts';
import { NotLeaderError, ProposalLostError, RaftTimeoutError } from '../raft-node/errors.ts';
import { FileError } from './file-errors.ts';

/** A new HLC stamp, after every stamp already applied (a new leader may have a slower clock). */
export function stampHlc(ctx: NodeContext): string {
  const last = ctx.metadata.lastHlc();
  return encodeHlc(last === null ? ctx.hlc.now() : ctx.hlc.update(last));
}

function failureReason(err: unknown): string {
  if (err instanceof NotLeaderError) return 'not_leader';
  if (err instanceof ProposalLostError) return 'lost';
  if (err instanceof RaftTimeoutError) return 'timeout';
  return 'other';
}

/** Proposes a command and waits until it is applied here; a result that is not ok is thrown. */
export async function proposeCommand(ctx: NodeContext, command: MetadataCommand): Promise<MetadataResult & { ok: true }> {
  return (await proposeAndWait(ctx, command)) as MetadataResult & { ok: true };
}

/** The same for a multipart upload's commands. */
export async function proposeUploadCommand(ctx: NodeContext, command: UploadCommand): Promise<UploadResult & { ok: true }> {
  return (await proposeAndWait(ctx, command)) as UploadResult & { ok: true };
}

async function proposeAndWait(ctx: NodeContext, command: MetadataCommand | UploadCommand): Promise<{ ok: true }> {
  const op = command.op;
  ctx.metrics.proposals.inc({ op });
  const endTimer = ctx.metrics.proposalSeconds.startTimer({ op });
  let result: MetadataResult | UploadResult | undefined;
  try {
    result = (await ctx.raft.propose(encodeCommand(command))) as MetadataResult | UploadResult | undefined;
  } catch (err) {
    ctx.metrics.proposalsFailed.inc({ op, reason: failureReason(err) });
    throw err;
  }
  endTimer();
  if (result === undefined) throw new FileError('internal', 'the state machine gave no result');
  if (!result.ok) throw new FileError(result.code, result.message);
  return result;
}

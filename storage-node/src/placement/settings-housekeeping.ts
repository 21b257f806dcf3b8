// The leader clears the placement settings of members that are gone (draining, full, down, zone),
// so a machine replaced under the same id (removed, then joined again with a wiped data
// directory) starts as a new member: holding its share, not still draining.
import { isLeader, type NodeContext } from '../node/node-context.ts';
import { setMemberDown, setMemberFlag, setMemberZone } from './settings-service.ts';

/** How often the leader looks for settings of removed members. */
export const housekeepingCheckMs = 5000;

/** The ids that have a placement setting and are not members, with what to clear. */
export function staleMemberSettings(
  settings: { readonly down: readonly string[]; readonly draining: readonly string[]; readonly full: readonly string[]; readonly zones: Readonly<Record<string, string>> },
  isMember: (id: string) => boolean,
): { readonly id: string; readonly clear: readonly ('down' | 'draining' | 'full' | 'zone')[] }[] {
  const stale = new Map<string, ('down' | 'draining' | 'full' | 'zone')[]>();
  const note = (id: string, what: 'down' | 'draining' | 'full' | 'zone') => {
    if (isMember(id)) return;
    const list = stale.get(id) ?? [];
    list.push(what);
    stale.set(id, list);
  };
  for (const id of settings.down) note(id, 'down');
  for (const id of settings.draining) note(id, 'draining');
  for (const id of settings.full) note(id, 'full');
  for (const id of Object.keys(settings.zones)) note(id, 'zone');
  return [...stale].map(([id, clear]) => ({ id, clear }));
}

export function startSettingsHousekeeping(ctx: NodeContext): { stop(): void } {
  let running = false;
  const check = async () => {
    if (!isLeader(ctx)) return;
    for (const { id, clear } of staleMemberSettings(ctx.metadata.settings(), (member) => ctx.members.isMember(member))) {
      for (const what of clear) {
        // Checked again before each proposal: the id may have been added back meanwhile.
        if (!isLeader(ctx) || ctx.members.isMember(id)) break;
        if (what === 'down') await setMemberDown(ctx, id, false);
        else if (what === 'zone') await setMemberZone(ctx, id, null);
        else await setMemberFlag(ctx, what === 'draining' ? 'setMemberDraining' : 'setMemberFull', id, false);
      }
      console.log(`node ${ctx.config.id}: cleared the placement settings (${clear.join(', ')}) of ${id}, no longer a member`);
    }
  };
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    check()
      .catch((err: unknown) => console.error(`node ${ctx.config.id}: clearing settings of removed members failed: ${(err as Error).message}`))
      .finally(() => (running = false));
  }, housekeepingCheckMs);
  return { stop: () => clearInterval(timer) };
}

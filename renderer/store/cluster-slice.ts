import { settle } from '../lib/api.js';
import type { Actions, ClusterState, GetState, SetState } from './types.js';

export const initialCluster: ClusterState = { view: null, error: null, message: null };

export function clusterActions(
  set: SetState,
  get: GetState,
): Pick<Actions, 'loadRoster' | 'openCluster' | 'closeCluster' | 'exportRoster' | 'reflashNode'> {
  const patch = (p: Partial<ClusterState>) => set((s) => ({ cluster: { ...s.cluster, ...p } }));

  return {
    async loadRoster() {
      const r = await settle(() => get().api.listRoster());
      patch(r.ok ? { view: r.value, error: null } : { error: r.error });
    },

    openCluster() {
      set((s) => ({
        shell: { ...s.shell, screen: { kind: 'cluster' } },
        cluster: { ...s.cluster, message: null },
      }));
      void get().loadRoster();
    },

    closeCluster() {
      set((s) => ({ shell: { ...s.shell, screen: { kind: 'wizard' } } }));
    },

    async exportRoster(format) {
      patch({ message: null, error: null });
      const r = await settle(() => get().api.exportRoster({ format }));
      if (!r.ok) return patch({ error: r.error });
      if (r.value.path) patch({ message: `Saved to ${r.value.path}` });
    },

    async reflashNode(hostname) {
      const node = get().cluster.view?.nodes.find((n) => n.hostname === hostname);
      if (
        !node ||
        get().shell.step.kind === 'flashing' ||
        get().shell.step.kind === 'flashing-many'
      )
        return;
      // The node keeps its name and roles; its disk already holds the last install, so the
      // installer may erase it (issue 13). Image, keys and Wi-Fi stay as they are in the form.
      set((s) => ({
        node: {
          ...s.node,
          hostname: node.hostname,
          edited: true,
          roles: [...node.roles],
          eraseAny: true,
          reflash: true,
          error: null,
        },
        flash: { ...s.flash, error: null, message: null },
        drives: { ...s.drives, selected: null, userChose: false, acknowledged: [] },
        shell: { ...s.shell, screen: { kind: 'wizard' } },
      }));
      // The stick step when everything before it is in place; otherwise the first step missing.
      const s = get();
      const to = s.image.info ? (s.keys.chosen.length ? 'drive' : 'keys') : 'image';
      set((st) => ({ shell: { ...st.shell, step: { kind: to } } }));
      if (to === 'drive') await get().refreshDrives();
    },
  };
}

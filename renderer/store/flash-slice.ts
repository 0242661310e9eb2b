import { settle, type ErrorJson } from '../lib/api.js';
import { isFailure } from '../lib/hints.js';
import { reconcile } from './drives-slice.js';
import { nodeFormOf } from './node-slice.js';
import type { Actions, FlashState, GetState, SetState } from './types.js';

export const initialFlash: FlashState = {
  sessions: {},
  busy: null,
  error: null,
  message: null,
  flashed: [],
};

export function flashActions(
  set: SetState,
  get: GetState,
): Pick<Actions, 'prepare' | 'startFlash' | 'cancelFlash' | 'applySession' | 'flashNext'> {
  const patch = (p: Partial<FlashState>) => set((s) => ({ flash: { ...s.flash, ...p } }));

  /** A form mistake stays on the page; a failure of the image, the drive or the app is shown
   * on the diagnostics screen. */
  function fail(error: ErrorJson, device: string | null) {
    patch({ busy: null, error });
    if (isFailure(error)) void get().openDiagnostics(error, device);
  }

  return {
    async prepare() {
      const s = get();
      const device = s.drives.selected;
      if (!s.image.path || !device || s.flash.busy) return;
      patch({ busy: 'preparing', error: null, message: null });
      const r = await settle(() =>
        get().api.prepareFlash({
          image: s.image.path ?? '',
          device,
          node: nodeFormOf(get()),
          sha256: null,
          reflash: get().node.reflash,
        }),
      );
      if (!r.ok) return fail(r.error, device);
      patch({ busy: null });
      set((st) => ({ shell: { ...st.shell, step: { kind: 'review', plan: r.value } } }));
    },

    async startFlash() {
      const step = get().shell.step;
      if (step.kind !== 'review' || get().flash.busy) return;
      const device = step.plan.drive.drive.device;
      patch({ busy: 'starting', error: null, message: null });
      const r = await settle(() => get().api.startFlash({ planId: step.plan.planId, device }));
      if (!r.ok) {
        // A plan is used once: whatever went wrong, the next try starts from the drive step.
        set((st) => ({ shell: { ...st.shell, step: { kind: 'drive' } } }));
        return fail(r.error, device);
      }
      patch({ busy: null });
      set((st) => ({
        shell: {
          ...st.shell,
          step: { kind: 'flashing', device, hostname: step.plan.node.hostname },
        },
      }));
      get().applySession(r.value);
    },

    async cancelFlash() {
      const step = get().shell.step;
      if (step.kind !== 'flashing') return;
      patch({ busy: 'cancelling' });
      const r = await settle(() => get().api.cancelFlash({ device: step.device }));
      if (!r.ok) patch({ busy: null, error: r.error });
    },

    applySession(snapshot) {
      const { device } = snapshot;
      set((s) => ({
        flash: { ...s.flash, sessions: { ...s.flash.sessions, [device]: snapshot } },
      }));
      const step = get().shell.step;
      if (step.kind !== 'flashing' || step.device !== device) return;
      const state = snapshot.session;
      switch (state.status) {
        case 'idle':
        case 'running':
          return;
        case 'done':
          set((s) => ({
            flash: {
              ...s.flash,
              busy: null,
              flashed: [...s.flash.flashed, { device, hostname: snapshot.hostname }],
            },
            drives: { ...s.drives, used: [...s.drives.used.filter((u) => u !== device), device] },
            shell: { ...s.shell, step: { kind: 'done', device, hostname: snapshot.hostname } },
          }));
          return;
        case 'cancelled':
          set((s) => ({
            flash: {
              ...s.flash,
              busy: null,
              message: `Cancelled. The stick ${device} was not finished: flash it again before you use it.`,
            },
            shell: { ...s.shell, step: { kind: 'drive' } },
          }));
          return;
        case 'failed':
          // This stick failed: it is not picked by itself again.
          set((s) => ({
            drives: reconcile(
              {
                ...s.drives,
                used: [...s.drives.used.filter((u) => u !== device), device],
                selected: s.drives.selected === device ? null : s.drives.selected,
              },
              [],
            ),
            shell: { ...s.shell, step: { kind: 'drive' } },
          }));
          fail(state.error, device);
          return;
      }
    },

    async flashNext() {
      // Image, keys and settings stay; the name moves on (asked first, so the next step never
      // shows the last node's name); the next stick is awaited.
      // A re-flash was for that one node: the next one is new, its disk erased only if blank.
      set((s) => ({
        node: {
          ...s.node,
          edited: false,
          error: null,
          ...(s.node.reflash ? { reflash: false, eraseAny: false } : {}),
        },
      }));
      await get().suggestName();
      set((s) => ({
        flash: { ...s.flash, error: null, message: null, busy: null },
        drives: reconcile(
          {
            ...s.drives,
            selected: null,
            userChose: false,
            acknowledged: [],
            baseline: s.drives.list.map((d) => d.drive.device),
          },
          [],
        ),
        shell: { ...s.shell, step: { kind: 'drive' } },
      }));
    },
  };
}

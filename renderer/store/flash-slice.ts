import { settle, type ErrorJson, type FlashSnapshot } from '../lib/api.js';
import { isFailure } from '../lib/hints.js';
import { reconcile } from './drives-slice.js';
import { nodeFormOf } from './node-slice.js';
import type { Stick } from './steps.js';
import type { Actions, FlashState, GetState, SetState } from './types.js';

const ended = (s: FlashSnapshot | undefined) =>
  !!s && s.session.status !== 'idle' && s.session.status !== 'running';

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

  /** Several sticks: one plan, each stick its own node (names from the roster, by main). */
  async function prepareMany() {
    const s = get();
    const devices = [...s.drives.chosen];
    if (!s.image.path || devices.length < 2 || s.flash.busy) return;
    patch({ busy: 'preparing', error: null, message: null });
    const r = await settle(() =>
      get().api.prepareFlashMany({
        image: s.image.path ?? '',
        devices,
        node: nodeFormOf(get()),
        sha256: null,
        hostPattern: null,
      }),
    );
    if (!r.ok)
      return fail(
        r.error,
        typeof r.error.details?.['device'] === 'string' ? r.error.details['device'] : null,
      );
    patch({ busy: null });
    set((st) => ({ shell: { ...st.shell, step: { kind: 'review-many', plan: r.value } } }));
  }

  async function startMany() {
    const step = get().shell.step;
    if (step.kind !== 'review-many' || get().flash.busy) return;
    const sticks: Stick[] = step.plan.drives.map((d) => ({
      device: d.device,
      hostname: d.hostname,
    }));
    patch({ busy: 'starting', error: null, message: null });
    const r = await settle(() =>
      get().api.startFlashMany({ planId: step.plan.planId, devices: sticks.map((x) => x.device) }),
    );
    if (!r.ok) {
      set((st) => ({ shell: { ...st.shell, step: { kind: 'drive' } } }));
      return fail(r.error, null);
    }
    patch({ busy: null });
    set((st) => ({ shell: { ...st.shell, step: { kind: 'flashing-many', sticks } } }));
    for (const snap of r.value) get().applySession(snap);
  }

  /**
   * A stick of a several-stick flash moved on. A failed stick shows its own error on its row
   * while the others go on; when every stick has ended, the done screen lists each one. A run
   * the operator cancelled goes back to the stick step.
   */
  function applyMany(sticks: readonly Stick[], snapshot: FlashSnapshot) {
    if (!sticks.some((x) => x.device === snapshot.device)) return;
    const status = snapshot.session.status;
    if (status === 'done' || status === 'failed')
      set((s) => ({
        flash: {
          ...s.flash,
          flashed:
            status === 'done'
              ? [...s.flash.flashed, { device: snapshot.device, hostname: snapshot.hostname }]
              : s.flash.flashed,
        },
        // A finished or failed stick is not ticked by itself again.
        drives: {
          ...s.drives,
          used: [...s.drives.used.filter((u) => u !== snapshot.device), snapshot.device],
          chosen: s.drives.chosen.filter((c) => c !== snapshot.device),
        },
      }));
    const sessions = get().flash.sessions;
    if (!sticks.every((x) => ended(sessions[x.device]))) return;
    const states = sticks.map((x) => sessions[x.device]?.session.status);
    if (states.every((x) => x === 'cancelled')) {
      set((s) => ({
        flash: {
          ...s.flash,
          busy: null,
          message: `Cancelled. The sticks ${sticks.map((x) => x.device).join(', ')} were not finished: flash them again before you use them.`,
        },
        shell: { ...s.shell, step: { kind: 'drive' } },
      }));
      return;
    }
    set((s) => ({
      flash: { ...s.flash, busy: null },
      shell: { ...s.shell, step: { kind: 'done-many', sticks } },
    }));
  }

  return {
    async prepare() {
      const s = get();
      if (s.drives.multi) return prepareMany();
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
      if (step.kind === 'review-many') return startMany();
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
      // Several sticks are written by one run: cancelling any of its sticks stops them all.
      const device =
        step.kind === 'flashing'
          ? step.device
          : step.kind === 'flashing-many'
            ? step.sticks.find((x) => !ended(get().flash.sessions[x.device]))?.device
            : undefined;
      if (!device) return;
      patch({ busy: 'cancelling' });
      const r = await settle(() => get().api.cancelFlash({ device }));
      if (!r.ok) patch({ busy: null, error: r.error });
    },

    applySession(snapshot) {
      const { device } = snapshot;
      set((s) => ({
        flash: { ...s.flash, sessions: { ...s.flash.sessions, [device]: snapshot } },
      }));
      const step = get().shell.step;
      if (step.kind === 'flashing-many') return applyMany(step.sticks, snapshot);
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
            // Several sticks stays on; the next ones are ticked as they are plugged in.
            chosen: [],
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

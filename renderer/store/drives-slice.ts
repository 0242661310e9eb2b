import { settle, type AssessedDrive } from '../lib/api.js';
import { MAX_STICKS_PER_FLASH } from '../lib/limits.js';
import type { Actions, DrivesState, GetState, SetState } from './types.js';

export const initialDrives: DrivesState = {
  list: [],
  loaded: false,
  selected: null,
  multi: false,
  chosen: [],
  userChose: false,
  acknowledged: [],
  used: [],
  baseline: null,
  scanError: null,
};

const deviceOf = (d: AssessedDrive) => d.drive.device;

/**
 * Which drive is picked without a click. Only a drive with no warning and no refusal, never
 * one flashed in this run or being written. One such drive: that one. Several: after "Flash
 * next node", the one plugged in since. A pick stands while its drive is there and not
 * refused (the review names it before anything is erased) — except that a stick plugged in
 * after "Flash next node" takes over an automatic pick of one that was already there: it is
 * the next stick the operator means.
 */
export function reconcile(d: DrivesState, busy: readonly string[]): DrivesState {
  // Several sticks: a ticked stick stays ticked while it is there, usable and not being written.
  const usable = (device: string) => {
    const x = d.list.find((y) => deviceOf(y) === device);
    return !!x && x.verdict.status !== 'refused' && !busy.includes(device);
  };
  if (d.chosen.some((c) => !usable(c))) d = { ...d, chosen: d.chosen.filter(usable) };
  const candidates = d.list.filter(
    (x) =>
      x.verdict.status === 'eligible' &&
      !d.used.includes(deviceOf(x)) &&
      !busy.includes(deviceOf(x)),
  );
  const fresh = d.baseline ? candidates.filter((x) => !d.baseline?.includes(deviceOf(x))) : [];
  const present = d.list.find((x) => deviceOf(x) === d.selected);
  if (present && present.verdict.status !== 'refused') {
    const autoFromBefore =
      !d.userChose && d.baseline !== null && d.baseline.includes(deviceOf(present));
    const next = fresh[0];
    if (autoFromBefore && fresh.length === 1 && next) return { ...d, selected: deviceOf(next) };
    return d;
  }
  let pick: AssessedDrive | undefined;
  if (candidates.length === 1) pick = candidates[0];
  else if (fresh.length === 1) pick = fresh[0];
  const selected = pick ? deviceOf(pick) : null;
  if (selected === d.selected) return d;
  return { ...d, selected, userChose: false };
}

export function drivesActions(
  set: SetState,
  get: GetState,
): Pick<
  Actions,
  'applyDriveEvent' | 'refreshDrives' | 'selectDrive' | 'acknowledge' | 'setMulti' | 'chooseDrive'
> {
  const busyDevices = () =>
    Object.values(get().flash.sessions)
      .filter((s) => s.session.status === 'running' || s.session.status === 'idle')
      .map((s) => s.device);
  const update = (fn: (d: DrivesState) => DrivesState) =>
    set((s) => ({ drives: reconcile(fn(s.drives), busyDevices()) }));

  return {
    applyDriveEvent(e) {
      switch (e.type) {
        case 'attach':
        case 'change':
          return update((d) => ({
            ...d,
            // Several sticks: a ready stick plugged in now is one the operator means to flash.
            chosen:
              d.multi &&
              e.type === 'attach' &&
              e.drive.verdict.status === 'eligible' &&
              !d.used.includes(deviceOf(e.drive)) &&
              !d.chosen.includes(deviceOf(e.drive)) &&
              d.chosen.length < MAX_STICKS_PER_FLASH
                ? [...d.chosen, deviceOf(e.drive)]
                : d.chosen,
            scanError: null,
            list: [...d.list.filter((x) => deviceOf(x) !== deviceOf(e.drive)), e.drive].sort(
              (a, b) => deviceOf(a).localeCompare(deviceOf(b), 'en', { numeric: true }),
            ),
          }));
        case 'detach':
          return update((d) => ({
            ...d,
            list: d.list.filter((x) => deviceOf(x) !== deviceOf(e.drive)),
            acknowledged: d.acknowledged.filter((a) => a !== deviceOf(e.drive)),
          }));
        case 'scan-error':
          return update((d) => ({ ...d, scanError: e.error }));
      }
    },

    async refreshDrives() {
      const r = await settle(() => get().api.listDrives());
      if (!r.ok) return update((d) => ({ ...d, scanError: r.error, loaded: true }));
      update((d) => ({
        ...d,
        scanError: null,
        loaded: true,
        list: [...r.value].sort((a, b) =>
          deviceOf(a).localeCompare(deviceOf(b), 'en', { numeric: true }),
        ),
      }));
    },

    selectDrive(device) {
      const drive = get().drives.list.find((x) => deviceOf(x) === device);
      if (!drive || drive.verdict.status === 'refused') return;
      set((s) => ({ drives: { ...s.drives, selected: device, userChose: true } }));
      set((s) => ({ flash: { ...s.flash, error: null, message: null } }));
    },

    setMulti(on) {
      const busy = busyDevices();
      set((s) => {
        const d = s.drives;
        // Every ready stick not flashed in this run is ticked; the one picked stays first.
        const ready = d.list
          .filter(
            (x) =>
              x.verdict.status === 'eligible' &&
              !d.used.includes(deviceOf(x)) &&
              !busy.includes(deviceOf(x)),
          )
          .map(deviceOf);
        const picked = d.list.some((x) => deviceOf(x) === d.selected) ? [d.selected ?? ''] : [];
        const chosen = on ? [...new Set([...picked, ...ready])] : [];
        return {
          drives: {
            ...d,
            multi: on,
            chosen: chosen.slice(0, MAX_STICKS_PER_FLASH),
            // Back to one stick: the first ticked one is the pick.
            ...(on ? {} : { selected: d.selected ?? d.chosen[0] ?? null }),
          },
          flash: { ...s.flash, error: null, message: null },
        };
      });
      update((d) => d);
    },

    chooseDrive(device, on) {
      const drive = get().drives.list.find((x) => deviceOf(x) === device);
      if (on && (!drive || drive.verdict.status === 'refused')) return;
      set((s) => ({
        drives: {
          ...s.drives,
          chosen: on
            ? [...s.drives.chosen.filter((c) => c !== device), device]
            : s.drives.chosen.filter((c) => c !== device),
        },
        flash: { ...s.flash, error: null, message: null },
      }));
    },

    acknowledge(device, on) {
      set((s) => ({
        drives: {
          ...s.drives,
          acknowledged: on
            ? [...s.drives.acknowledged.filter((a) => a !== device), device]
            : s.drives.acknowledged.filter((a) => a !== device),
        },
      }));
    },
  };
}

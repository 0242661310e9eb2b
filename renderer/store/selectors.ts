/**
 * Everything screens read from the store, as selectors: a screen never digs into the state's
 * shape itself, so a slice can change without touching the screens. Selectors that build a
 * new array are used through `useShallow` (zustand v5 compares results by identity).
 */
import type { AssessedDrive, FlashSnapshot } from '../lib/api.js';
import { MAX_STICKS_PER_FLASH } from '../lib/limits.js';
import { canonicalHostname, hostnameProblem } from '../lib/hostname.js';
import { passphraseProblem, ssidProblem } from '../lib/wifi.js';
import type { StepKind } from './steps.js';
import type { AppState } from './types.js';

export type ImageVerdict = 'none' | 'busy' | 'error' | 'blocked' | 'no-room' | 'ok';

export function selectImageVerdict(s: AppState): ImageVerdict {
  const { info, busy, error } = s.image;
  if (busy) return 'busy';
  if (error) return 'error';
  if (!info) return 'none';
  // A NixOS installer without Zeta boots a plain live system and ignores the node (issue 14).
  if (info.installer.kind === 'nixos') return 'blocked';
  if (!info.esp.payloadFits) return 'no-room';
  return 'ok';
}

export const selectImageReady = (s: AppState) => selectImageVerdict(s) === 'ok';

export type NodeField = 'hostname' | 'ssid' | 'passphrase' | 'password';

/** The roster's node of that name, unless the operator is re-flashing it on purpose. */
export function selectNameTaken(s: AppState) {
  if (s.node.reflash) return null;
  const name = canonicalHostname(s.node.hostname);
  return s.cluster.view?.nodes.find((n) => n.hostname === name) ?? null;
}

export function selectFieldProblem(s: AppState, field: NodeField): string | null {
  const n = s.node;
  switch (field) {
    case 'hostname': {
      const rule = hostnameProblem(n.hostname);
      if (rule) return rule;
      const taken = selectNameTaken(s);
      return taken
        ? `${taken.hostname} is already in your cluster (flashed ${taken.flashedAt.slice(0, 10)}). Choose another name, or re-flash it from the Cluster screen.`
        : null;
    }
    case 'ssid':
      return n.wifiOn ? ssidProblem(n.ssid) : null;
    case 'passphrase':
      return n.wifiOn ? passphraseProblem(n.passphrase) : null;
    case 'password':
      if (!n.passwordOn) return null;
      if ([...n.password].length < 8) return 'At least 8 characters.';
      if (new TextEncoder().encode(n.password).length > 1024) return 'At most 1024 bytes.';
      // eslint-disable-next-line no-control-regex
      if (/[\u0000-\u001f\u007f]/.test(n.password)) return 'No control characters.';
      return null;
  }
}

const FIELDS: readonly NodeField[] = ['hostname', 'ssid', 'passphrase', 'password'];

export const selectNodeProblems = (s: AppState): NodeField[] =>
  FIELDS.filter((f) => selectFieldProblem(s, f) !== null);

export const selectNodeReady = (s: AppState) =>
  selectNodeProblems(s).length === 0 && (!s.node.wifiOn || s.node.psk !== null);

export const selectKeysReady = (s: AppState) => s.keys.chosen.length > 0;

export const selectSelectedDrive = (s: AppState): AssessedDrive | null =>
  s.drives.list.find((d) => d.drive.device === s.drives.selected) ?? null;

/** The ticked sticks of a several-stick flash, in the order ticked. */
export const selectChosenDrives = (s: AppState): AssessedDrive[] =>
  s.drives.chosen.flatMap((c) => s.drives.list.filter((d) => d.drive.device === c));

/** Why the ticked sticks cannot be flashed yet; null when they can. */
export function selectManyProblem(s: AppState): string | null {
  const chosen = selectChosenDrives(s);
  if (chosen.length < 2) return 'Tick at least two sticks (or turn “several sticks” off).';
  if (chosen.length > MAX_STICKS_PER_FLASH)
    return `One flash writes at most ${MAX_STICKS_PER_FLASH} sticks: untick some.`;
  const unread = chosen.find(
    (d) => d.verdict.status === 'warn' && !s.drives.acknowledged.includes(d.drive.device),
  );
  if (unread) return `Read the warning for ${unread.drive.device} and tick it to go on.`;
  return null;
}

export function selectDriveReady(s: AppState): boolean {
  if (s.drives.multi) return selectManyProblem(s) === null;
  const d = selectSelectedDrive(s);
  if (!d) return false;
  switch (d.verdict.status) {
    case 'eligible':
      return true;
    case 'warn':
      return s.drives.acknowledged.includes(d.drive.device);
    case 'refused':
      return false;
  }
}

/** The session of the drive being flashed, for the progress screen. */
export function selectActiveSession(s: AppState): FlashSnapshot | null {
  // (Several sticks: each row reads its own session from flash.sessions.)
  const step = s.shell.step;
  if (step.kind !== 'flashing' && step.kind !== 'done') return null;
  return s.flash.sessions[step.device] ?? null;
}

const flashing = (s: AppState) =>
  s.shell.step.kind === 'flashing' || s.shell.step.kind === 'flashing-many';

/** Whether the step list may jump to `kind` now. */
export function selectCanVisit(s: AppState, kind: StepKind): boolean {
  if (flashing(s) || s.flash.busy) return false;
  switch (kind) {
    case 'image':
      return true;
    case 'node':
      return selectImageReady(s);
    case 'keys':
      return selectImageReady(s) && selectNodeReady(s);
    case 'drive':
      return selectCanVisit(s, 'keys') && selectKeysReady(s);
    case 'review':
      return selectCanVisit(s, 'drive') && selectDriveReady(s);
    case 'flashing':
    case 'done':
    case 'review-many':
    case 'flashing-many':
    case 'done-many':
      return false;
  }
}

/** The short summary a finished step shows in the step list. */
export function selectStepSummary(s: AppState, kind: StepKind): string | null {
  switch (kind) {
    case 'image':
      return s.image.info && selectImageReady(s) ? s.image.info.name : null;
    case 'node':
      return selectNodeReady(s) ? s.node.hostname.trim().toLowerCase() : null;
    case 'keys':
      return s.keys.chosen.length
        ? `${s.keys.chosen.length} key${s.keys.chosen.length === 1 ? '' : 's'}`
        : null;
    case 'drive':
      if (s.drives.multi) return s.drives.chosen.length ? `${s.drives.chosen.length} sticks` : null;
      return selectSelectedDrive(s)?.drive.device ?? null;
    case 'review':
    case 'flashing':
    case 'done':
    case 'review-many':
    case 'flashing-many':
    case 'done-many':
      return null;
  }
}

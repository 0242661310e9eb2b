import { settle, type NodeForm } from '../lib/api.js';
import { canonicalHostname } from '../lib/hostname.js';
import { derivePsk, passphraseProblem, ssidProblem } from '../lib/wifi.js';
import { selectNodeProblems } from './selectors.js';
import type { Actions, AppState, GetState, NodeState, SetState } from './types.js';

export const initialNode: NodeState = {
  hostname: '',
  suggested: null,
  edited: false,
  roles: [],
  wifiOn: false,
  ssid: '',
  passphrase: '',
  psk: null,
  passwordOn: false,
  password: '',
  eraseAny: false,
  reflash: false,
  error: null,
};

/** The form as it crosses to main: the PSK, never the Wi-Fi passphrase. */
export function nodeFormOf(s: AppState): NodeForm {
  const n = s.node;
  return {
    hostname: canonicalHostname(n.hostname),
    keys: s.keys.chosen.map((k) => k.line),
    roles: [...n.roles],
    wifi: n.wifiOn && n.psk ? { ssid: n.ssid, psk: n.psk } : null,
    password: n.passwordOn && n.password !== '' ? n.password : null,
    eraseAny: n.eraseAny,
  };
}

export function nodeActions(
  set: SetState,
  get: GetState,
): Pick<
  Actions,
  | 'setHostname'
  | 'suggestName'
  | 'toggleRole'
  | 'setWifi'
  | 'setPassword'
  | 'setEraseAny'
  | 'submitNode'
> {
  const patch = (p: Partial<NodeState>) => set((s) => ({ node: { ...s.node, ...p } }));
  let derivation = 0;

  async function derive() {
    const { ssid, passphrase, wifiOn } = get().node;
    const run = ++derivation;
    if (!wifiOn || ssidProblem(ssid) || passphraseProblem(passphrase)) return;
    const psk = await derivePsk(ssid, passphrase);
    // Only the newest derivation counts: the operator may still be typing.
    if (run === derivation) patch({ psk });
  }

  return {
    setHostname(value) {
      // Another name is another node: no longer the re-flash of the one chosen in the roster.
      patch({ hostname: value, edited: true, error: null, reflash: false });
    },

    async suggestName() {
      const r = await settle(() => get().api.suggestName({ pattern: null }));
      if (!r.ok) return;
      const n = get().node;
      patch({
        suggested: r.value,
        ...(n.edited && n.hostname !== '' ? {} : { hostname: r.value }),
      });
    },

    toggleRole(role) {
      const roles = get().node.roles;
      patch({ roles: roles.includes(role) ? roles.filter((r) => r !== role) : [...roles, role] });
    },

    setWifi({ on, ssid, passphrase }) {
      const n = get().node;
      patch({
        wifiOn: on ?? n.wifiOn,
        ssid: ssid ?? n.ssid,
        passphrase: passphrase ?? n.passphrase,
        psk: null,
        error: null,
      });
      void derive();
    },

    setPassword({ on, value }) {
      const n = get().node;
      patch({ passwordOn: on ?? n.passwordOn, password: value ?? n.password, error: null });
    },

    setEraseAny(on) {
      patch({ eraseAny: on });
    },

    async submitNode() {
      if (selectNodeProblems(get()).length > 0) return false;
      if (get().node.wifiOn && !get().node.psk) await derive();
      return get().node.psk !== null || !get().node.wifiOn;
    },
  };
}

import { settle, type KeySummary, type Notice, type Result, type ZflashApi } from '../lib/api.js';
import { judgeKeyFile, PRIVATE_KEY_REFUSAL } from '../lib/key-file.js';
import { formatSize } from '../lib/format.js';
import type { Actions, GetState, KeysState, SetState } from './types.js';

export const initialKeys: KeysState = {
  chosen: [],
  local: null,
  busy: false,
  refusal: null,
  error: null,
  notices: [],
};

/**
 * Fingerprints for key lines the window holds (remembered, or read from a dropped file where
 * the page cannot learn the file's path). The contract has no "parse these lines" channel yet,
 * so the engine's node validation is asked with a placeholder name: it parses the keys with
 * the same code as every other path and answers their summaries. A `keys:parse` channel would
 * replace this (listed in the renderer's README).
 */
export async function summarizeKeyLines(
  api: ZflashApi,
  lines: readonly string[],
): Promise<Result<{ keys: KeySummary[]; notices: Notice[] }>> {
  const r = await settle(() =>
    api.validateNode({
      hostname: 'key-check',
      keys: [...lines],
      roles: [],
      wifi: null,
      password: null,
      eraseAny: false,
    }),
  );
  if (!r.ok) return r;
  return {
    ok: true,
    value: { keys: r.value.keys, notices: r.value.notices.filter((n) => !/HOSTNAME/.test(n.code)) },
  };
}

const sameKey = (a: KeySummary, b: KeySummary) => a.fingerprint === b.fingerprint;

export function keysActions(
  set: SetState,
  get: GetState,
): Pick<
  Actions,
  'loadLocalKeys' | 'toggleKey' | 'removeKey' | 'pickKeyFile' | 'dropKeyFile' | 'clearKeyRefusal'
> {
  const patch = (p: Partial<KeysState>) => set((s) => ({ keys: { ...s.keys, ...p } }));

  /** Remembered for the next run: public key lines only (main re-parses them). */
  async function remember(chosen: readonly KeySummary[]) {
    await settle(() => get().api.setSettings({ keyLines: chosen.map((k) => k.line) }));
  }

  function choose(keys: readonly KeySummary[]) {
    const chosen = [...get().keys.chosen];
    for (const k of keys) if (!chosen.some((c) => sameKey(c, k))) chosen.push(k);
    patch({ chosen, error: null, refusal: null });
    void remember(chosen);
  }

  function refuseOrFail(error: NonNullable<KeysState['error']>) {
    if (error.code === 'ZFLASH_PRIVATE_KEY') patch({ refusal: PRIVATE_KEY_REFUSAL, error: null });
    else patch({ error, refusal: null });
  }

  return {
    async loadLocalKeys() {
      const r = await settle(() => get().api.localKeys());
      if (!r.ok) return patch({ local: [] });
      patch({ local: r.value.keys, notices: r.value.notices });
      // Exactly one key in ~/.ssh and nothing chosen yet: that is the key.
      const only = r.value.keys[0];
      if (r.value.keys.length === 1 && only && get().keys.chosen.length === 0) choose([only]);
    },

    toggleKey(key) {
      const chosen = get().keys.chosen;
      if (chosen.some((c) => sameKey(c, key))) {
        const rest = chosen.filter((c) => !sameKey(c, key));
        patch({ chosen: rest });
        void remember(rest);
      } else choose([key]);
    },

    removeKey(fingerprint) {
      const rest = get().keys.chosen.filter((c) => c.fingerprint !== fingerprint);
      patch({ chosen: rest });
      void remember(rest);
    },

    async pickKeyFile() {
      patch({ refusal: null, error: null });
      const picked = await settle(() => get().api.pickKey());
      if (!picked.ok) return patch({ error: picked.error });
      if (!picked.value) return;
      patch({ busy: true });
      const path = picked.value;
      const r = await settle(() => get().api.readKey({ path }));
      patch({ busy: false });
      if (!r.ok) return refuseOrFail(r.error);
      patch({ notices: r.value.notices });
      choose(r.value.keys);
    },

    async dropKeyFile(file) {
      patch({ refusal: null, error: null, busy: true });
      const judged = await judgeKeyFile(file);
      switch (judged.kind) {
        case 'private':
          // Refused here: neither the bytes nor the path go to main.
          return patch({ busy: false, refusal: PRIVATE_KEY_REFUSAL });
        case 'too-large':
          return patch({
            busy: false,
            refusal: `“${file.name}” is ${formatSize(judged.bytes)}: too large to be an SSH public key. Drop the .pub file (one short line of text).`,
          });
        case 'not-text':
        case 'empty':
          return patch({
            busy: false,
            refusal: `“${file.name}” is not an SSH public key. Drop the .pub file (one line starting with ssh-ed25519, ecdsa-sha2-… or ssh-rsa).`,
          });
        case 'public': {
          const path = get().api.pathForFile(file);
          const r = path
            ? await settle(() => get().api.readKey({ path }))
            : await summarizeKeyLines(get().api, judged.lines);
          patch({ busy: false });
          if (!r.ok) return refuseOrFail(r.error);
          patch({ notices: r.value.notices });
          return choose(r.value.keys);
        }
      }
    },

    clearKeyRefusal() {
      patch({ refusal: null });
    },
  };
}

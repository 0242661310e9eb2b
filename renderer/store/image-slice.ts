import { settle } from '../lib/api.js';
import type { Actions, AppState, GetState, ImageState, SetState } from './types.js';

/** The notice of a file the OS opened while a stick was being written. */
export const OPENED_DURING_FLASH = 'OPENED_DURING_FLASH';

/** A stick is being written (or about to be): nothing the window shows may change under it. */
function writing(s: AppState): boolean {
  const step = s.shell.step.kind;
  return (
    step === 'flashing' ||
    step === 'flashing-many' ||
    s.flash.busy === 'starting' ||
    Object.values(s.flash.sessions).some(
      (f) => f.session.status === 'running' || f.session.status === 'idle',
    )
  );
}

const baseName = (path: string): string => path.split(/[\\/]/).pop() || path;

export const initialImage: ImageState = {
  path: null,
  info: null,
  busy: false,
  error: null,
  dropMessage: null,
};

export function imageActions(
  set: SetState,
  get: GetState,
): Pick<Actions, 'pickImage' | 'useImage' | 'dropImage' | 'takeOpenedFile' | 'openImageFile'> {
  const patch = (p: Partial<ImageState>) => set((s) => ({ image: { ...s.image, ...p } }));
  return {
    async pickImage() {
      patch({ dropMessage: null });
      const r = await settle(() => get().api.pickImage());
      if (!r.ok) return patch({ error: r.error });
      if (r.value) await get().useImage(r.value);
    },

    async useImage(path) {
      patch({ path, busy: true, error: null, dropMessage: null });
      const r = await settle(() => get().api.inspectImage({ path }));
      // A later choice wins over a slow inspection of an earlier one.
      if (get().image.path !== path) return;
      if (!r.ok) return patch({ info: null, busy: false, error: r.error });
      patch({ info: r.value, busy: false });
      // The drive verdicts depend on the image (its size, the drive that holds it).
      void get().refreshDrives();
    },

    async takeOpenedFile() {
      const r = await settle(() => get().api.takeOpenedFile());
      if (r.ok && r.value) await get().openImageFile(r.value);
    },

    async openImageFile(path) {
      const s = get();
      if (writing(s)) {
        const notice = {
          code: OPENED_DURING_FLASH,
          message: `${baseName(path)} was not opened: a stick is being written. Choose it in the Image step once the flash has ended.`,
        };
        set((st) => ({
          shell: {
            ...st.shell,
            notices: [...st.shell.notices.filter((n) => n.code !== OPENED_DURING_FLASH), notice],
          },
        }));
        return;
      }
      // At the start, and on a review (its plan names another image), the window shows the
      // image step with the opened file. Elsewhere (the node, keys and stick forms, Done) the
      // operator stays where they are and the next flash uses the new image, as after a pick.
      const step = s.shell.step.kind;
      if (step === 'image' || step === 'review' || step === 'review-many')
        set((st) => ({
          shell: {
            ...st.shell,
            step: { kind: 'image' },
            screen: st.shell.screen.kind === 'cluster' ? { kind: 'wizard' } : st.shell.screen,
          },
          flash: { ...st.flash, error: null },
        }));
      await get().useImage(path);
    },

    async dropImage(file) {
      const path = get().api.pathForFile(file);
      if (!path) {
        return patch({
          dropMessage: `This window cannot tell where "${file.name}" is on this computer. Use “Choose image…” instead.`,
        });
      }
      await get().useImage(path);
    },
  };
}

import { settle } from '../lib/api.js';
import type { Actions, GetState, ImageState, SetState } from './types.js';

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
): Pick<Actions, 'pickImage' | 'useImage' | 'dropImage'> {
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

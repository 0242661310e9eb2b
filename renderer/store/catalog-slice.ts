import { settle } from '../lib/api.js';
import type { Actions, CatalogState, GetState, SetState } from './types.js';

export const initialCatalog: CatalogState = {
  catalog: null,
  error: null,
  loading: false,
  downloading: null,
  progress: null,
};

export function catalogActions(
  set: SetState,
  get: GetState,
): Pick<Actions, 'loadCatalog' | 'downloadInstaller' | 'cancelDownload'> {
  const patch = (p: Partial<CatalogState>) => set((s) => ({ catalog: { ...s.catalog, ...p } }));

  return {
    async loadCatalog() {
      if (get().catalog.loading) return;
      patch({ loading: true });
      const r = await settle(() => get().api.listInstallers());
      patch(
        r.ok
          ? { catalog: r.value, error: null, loading: false }
          : { catalog: null, error: r.error, loading: false },
      );
    },

    async downloadInstaller(arch) {
      if (get().catalog.downloading) return;
      patch({ downloading: arch, progress: null, error: null });
      const r = await settle(() => get().api.downloadInstaller({ arch }));
      patch({ downloading: null, progress: null });
      if (!r.ok) {
        // Cancelled by the operator: nothing to say beyond the button coming back.
        if (r.error.code !== 'ZFLASH_CANCELLED') patch({ error: r.error });
        return;
      }
      // The catalogue now lists it as cached; the image step inspects it like any image.
      void get().loadCatalog();
      await get().useImage(r.value.path);
    },

    async cancelDownload() {
      await settle(() => get().api.cancelDownload());
    },
  };
}

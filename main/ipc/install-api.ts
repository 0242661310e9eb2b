/**
 * Builds `window.zflash` in the page's own world from a small transport: one method per
 * channel in METHODS, one `on…(listener, { signal })` per push event, and `pathForFile`.
 *
 * Why in the page's world: listeners stop through an AbortSignal (Fiddle's pattern), but an
 * AbortSignal cannot cross Electron's context bridge — it arrives in the preload as a plain
 * `{}` without `addEventListener` (electron_api_context_bridge.cc copies non-plain objects by
 * their own enumerable properties). So the preload runs this function in the main world with
 * `contextBridge.executeInMainWorld`, passing the transport (its functions are proxied), and
 * the signal is observed where it lives. The web shell's page script calls it directly.
 *
 * The function is serialized (Function.prototype.toString) into the page, so it must stay
 * self-contained: no imports, no outer variables, no helpers — only its arguments and
 * JavaScript built-ins. main/security.test.ts runs it in a fresh VM context to prove that.
 */

export interface ZflashTransport {
  /** Resolves with the Result main answered ({ok:true,value} | {ok:false,error}). */
  invoke(channel: string, request: unknown): Promise<unknown>;
  /** Starts delivering one push event's payloads; the returned function stops it. */
  subscribe(event: string, listener: (payload: unknown) => void): () => void;
  /** The file system path of a dropped File (webUtils.getPathForFile in Electron). */
  pathForFile(file: unknown): string;
}

export function installZflashApi(
  transport: ZflashTransport,
  methods: Readonly<Record<string, string>>,
  eventMethods: Readonly<Record<string, string>>,
): void {
  const api: Record<string, unknown> = {};
  for (const name of Object.keys(methods)) {
    const channel = methods[name] as string;
    api[name] = (request?: unknown) =>
      transport.invoke(channel, request === undefined ? {} : request);
  }
  for (const name of Object.keys(eventMethods)) {
    const event = eventMethods[name] as string;
    api[name] = (
      listener: (payload: unknown) => void,
      options: { signal?: AbortSignal } | undefined,
    ) => {
      if (typeof listener !== 'function') throw new TypeError(`${name} needs a listener function`);
      const signal = options ? options.signal : undefined;
      // A subscription that cannot end leaks across reloads of a view: the signal is required.
      if (!signal || typeof signal.addEventListener !== 'function') {
        throw new TypeError(`${name} needs { signal }: an AbortSignal that ends the subscription`);
      }
      if (signal.aborted) return;
      const stop = transport.subscribe(event, (payload) => listener(payload));
      signal.addEventListener('abort', () => stop(), { once: true });
    };
  }
  api['pathForFile'] = (file: unknown) => transport.pathForFile(file);
  Object.defineProperty(globalThis, 'zflash', {
    value: Object.freeze(api),
    enumerable: true,
    configurable: false,
    writable: false,
  });
}

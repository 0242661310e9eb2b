/**
 * The renderer's only door to the engine: `window.zflash`, typed by the IPC contract. Types
 * are imported type-only (erased at build); lint forbids any value import of main/ or app/.
 *
 * Every call answers a Result. A transport that throws instead (a closed socket, a preload
 * missing) is turned into the same error shape here, so no screen ever sees a bare exception.
 */
import type {
  ErrorJson,
  EventOf,
  KeySummary,
  NodeForm,
  RequestOf,
  ResponseOf,
  Result,
  ZflashApi,
} from '../../main/ipc/contract.js';

export type { ErrorJson, KeySummary, NodeForm, Result, ZflashApi };
export type ErrorCode = ErrorJson['code'];
export type AppInfo = ResponseOf<'app:info'>;
export type ImageInfo = ResponseOf<'image:inspect'>;
export type AssessedDrive = ResponseOf<'drives:list'>[number];
export type DriveEvent = EventOf<'drives:event'>;
export type Verdict = AssessedDrive['verdict'];
export type Reason = Verdict['reasons'][number];
export type LocalKey = ResponseOf<'keys:local'>['keys'][number];
export type Plan = ResponseOf<'flash:prepare'>;
export type ManyPlan = ResponseOf<'flash:prepare-many'>;
export type NodeSummary = ResponseOf<'node:validate'>;
export type FlashSnapshot = EventOf<'flash:session'>;
export type FlashState = FlashSnapshot['session'];
export type Progress = Extract<FlashState, { status: 'running' }>['progress'];
export type FlashPhase = Progress['phase'];
export type DiagnosticsView = ResponseOf<'diagnostics:snapshot'>;
export type Settings = ResponseOf<'settings:get'>['settings'];
export type Notice = ImageInfo['notices'][number];
export type Role = NodeForm['roles'][number];
export type RosterView = ResponseOf<'roster:list'>;
export type RosterNode = RosterView['nodes'][number];
export type ExportFormat = RequestOf<'roster:export'>['format'];
export type Catalog = ResponseOf<'catalog:list'>;
export type CatalogImage = Catalog['images'][number];
export type Arch = CatalogImage['arch'];
export type DownloadProgress = EventOf<'catalog:progress'>;

declare global {
  interface Window {
    readonly zflash?: ZflashApi;
  }
}

/** The API the page was given, or null when the page was opened without Zeta Flash around it. */
export function findApi(): ZflashApi | null {
  return typeof window !== 'undefined' && window.zflash ? window.zflash : null;
}

/** An error the renderer itself raises (a transport fault), in the engine's shape. */
export function localError(message: string, hint: string): ErrorJson {
  return { code: 'ZFLASH_INTERNAL', kind: 'bug', message, hint, exitCode: 1 };
}

/** Awaits a call; a throw or a malformed answer becomes `{ok:false}` like any engine error. */
export async function settle<T>(call: () => Promise<Result<T>>): Promise<Result<T>> {
  try {
    const r = await call();
    if (r && typeof r === 'object' && 'ok' in r) return r;
    return {
      ok: false,
      error: localError(
        'Zeta Flash answered in a way this window does not understand.',
        'Restart Zeta Flash.',
      ),
    };
  } catch (err) {
    return {
      ok: false,
      error: localError(
        `This window lost its connection to Zeta Flash (${err instanceof Error ? err.message : String(err)}).`,
        'Restart Zeta Flash; nothing was written by this window.',
      ),
    };
  }
}

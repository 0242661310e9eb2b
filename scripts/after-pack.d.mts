// Types of after-pack.mjs for the TypeScript tests that import it.
export interface AfterPackContext {
  readonly appOutDir: string;
  readonly electronPlatformName: string;
  /** builder-util's Arch enum */
  readonly arch: number;
  readonly packager: {
    getResourcesDir(appOutDir: string): string;
    /** WinPackager only: signs with the configured certificate, if any. */
    signIf?(file: string): Promise<boolean>;
  };
}
export function helperTarget(context: AfterPackContext): { platform: string; arch: string };
export default function afterPack(
  context: AfterPackContext,
  env?: NodeJS.ProcessEnv,
): Promise<void>;

// Types of helper-build.mjs for the TypeScript tests that import it.
export const root: string;
export const HELPER_BASENAME: string;
export const SEA_SENTINEL_FUSE: string;
export const NOT_LOADED_BY_HELPER: readonly string[];
export const RUNTIME_FILE_PACKAGES: readonly string[];
export const BUILD_ONLY_PACKAGES: readonly string[];
export function helperExecutableName(platform: NodeJS.Platform): string;
export function helperPackages(nativeModules: readonly string[]): string[];
export function resolvePackageDir(name: string, fromDir: string, top: string): string | null;
export function dependencyClosure(
  names: readonly string[],
  nodeModules: string,
): { name: string; dir: string }[];
export function keepInHelper(path: string, target: string): boolean;
export function bundleHelper(opts: {
  entry: string;
  outFile: string;
  externals: readonly string[];
}): Promise<void>;
export function seaConfig(opts: { main: string; output: string }): Record<string, unknown>;
export function nodeBinaryFor(opts: {
  platform: string;
  arch: string;
  env?: NodeJS.ProcessEnv;
  host?: { platform: string; arch: string; execPath: string };
}): string;
export function setWindowsVersionInfo(
  exe: string,
  info: { productName: string; fileDescription: string; version: string; company: string },
): Promise<void>;
export function buildHelper(opts: {
  outDir: string;
  platform: NodeJS.Platform;
  arch: string;
  nodeBinary: string;
  entry?: string;
  nodeModules?: string;
  nativeFrom?: string;
  nativeModules?: readonly string[];
  version?: string;
  log?: (line: string) => void;
}): Promise<{ exe: string; outDir: string }>;

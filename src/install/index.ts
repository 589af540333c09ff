// The install layer's public API: the offline bundle (harvester bundle, and remote-install's source) and
// the Node.js runtimes it can carry.
export { buildBundle, type BuildBundleOptions, type BuiltBundle, type RuntimeChoice } from './bundle.js';
export { BundleError, RuntimeIntegrityError, UnsupportedPlatformError, type BundleStep } from './errors.js';
export {
  BUNDLE_FORMAT,
  BundleManifestError,
  bundleManifestSchema,
  MANIFEST_FILE,
  parseBundleManifest,
  type BundleManifest,
  type BundleRuntime,
} from './manifest.js';
export {
  MIN_NODE_VERSION,
  NODE_RUNTIME_VERSION,
  nodeRuntimePackages,
  parsePlatform,
  platformName,
  runtimePackageFor,
  runtimeTarballName,
  supportedPlatformNames,
  type NodePlatform,
  type RuntimePackage,
} from './runtime-packages.js';
export { cachedRuntimeTarball, obtainRuntimeTarball, type RuntimeFetchOptions } from './node-runtime.js';
export { defaultCacheDir } from './cache-dir.js';
export { sha256File, verifyIntegrity } from './file-digest.js';

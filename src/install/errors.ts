// The offline bundle's errors: each names the step that failed and what the operator can do about it.

/** Where building the bundle failed. */
export type BundleStep = 'js-bundle' | 'runtime-fetch' | 'runtime-verify' | 'runtime-extract' | 'archive';

export class BundleError extends Error {
  constructor(
    readonly step: BundleStep,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`bundle: ${step}: ${message}`, options);
    this.name = 'BundleError';
  }
}

/** The runtime tarball is not the one pinned in the runtime table: never used, never cached. */
export class RuntimeIntegrityError extends BundleError {
  constructor(
    readonly file: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      'runtime-verify',
      `${file} does not match the pinned integrity (expected ${expected}, got ${actual}); it was not used: ` +
        'fetch it again, or check where the file came from (a proxy or mirror serving other content)',
    );
    this.name = 'RuntimeIntegrityError';
  }
}

/** No Node.js runtime for that platform (unknown, or npm has no build of the pinned version). Bad input: exit 2. */
export class UnsupportedPlatformError extends BundleError {
  readonly badInput = true;

  constructor(
    readonly platform: string,
    reason: string,
  ) {
    super('runtime-fetch', `no bundled Node.js runtime for ${platform}: ${reason}`);
    this.name = 'UnsupportedPlatformError';
  }
}

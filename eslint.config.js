// Lint config. Besides typescript-eslint's recommended rules it enforces the import direction of the layers
// (README, "Design"): spec, logging <- config <- plugins <- middleware <- store <- agents <- cli, with the
// communicator (job sources: the embedded queue, PanDA) beside the store, used by the agents, and install (the
// offline bundle) beside the store, used by the cli, and metrics (instruments, the control endpoint) used by the
// cli alone.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The one table of the layers (DESIGN.md, "Layers"): which other layers each folder of src/ may import.
// The lint rule of every layer is derived from it: whatever a layer does not list here, it must not import.
const allowedImports = {
  spec: [],
  logging: [],
  config: ['spec', 'logging'],
  plugins: ['spec', 'logging', 'config'],
  middleware: ['spec', 'logging', 'config', 'plugins'],
  store: ['spec', 'logging', 'config', 'plugins', 'middleware'],
  communicator: ['spec', 'logging', 'config', 'store'],
  agents: ['spec', 'logging', 'config', 'plugins', 'middleware', 'store', 'communicator'],
  install: ['spec', 'logging', 'config', 'plugins', 'middleware'],
  // Instruments and the control endpoint only; fed by the cli, never imported by the agents or the middleware.
  metrics: [],
  cli: ['spec', 'logging', 'config', 'plugins', 'middleware', 'store', 'communicator', 'agents', 'install', 'metrics'],
};
const layers = Object.keys(allowedImports);
const forbidden = Object.fromEntries(
  layers.map((layer) => [layer, layers.filter((other) => other !== layer && !allowedImports[layer].includes(other))]),
);

const layerRules = layers
  .filter((layer) => forbidden[layer].length > 0)
  .map((layer) => ({
    files: [`src/${layer}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbidden[layer].map((other) => ({
            group: [`**/${other}/*`, `**/${other}`],
            message: `The ${layer} layer must not import from ${other}/ (allowedImports in eslint.config.js; README, "Design").`,
          })),
        },
      ],
    },
  }));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.testbed/**', 'bench-results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  ...layerRules,
);

// Lint config. Besides typescript-eslint's recommended rules it enforces the import direction of
// DESIGN.md's layers: spec <- config/logging <- plugins <- middleware <- store <- agents <- cli, with the
// communicator (job sources: the embedded queue, PanDA) beside the store, used by the agents.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const layers = ['spec', 'logging', 'config', 'plugins', 'middleware', 'store', 'communicator', 'agents', 'cli'];
// Which layers each layer may NOT import (everything above it).
const forbidden = {
  spec: ['logging', 'config', 'plugins', 'middleware', 'store', 'agents', 'cli'],
  logging: ['spec', 'config', 'plugins', 'middleware', 'store', 'agents', 'cli'],
  config: ['plugins', 'middleware', 'store', 'agents', 'cli'],
  plugins: ['middleware', 'store', 'agents', 'cli'],
  middleware: ['store', 'agents', 'cli'],
  store: ['communicator', 'agents', 'cli'],
  communicator: ['plugins', 'middleware', 'agents', 'cli'],
  agents: ['cli'],
  cli: [],
};

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
            message: `The ${layer} layer must not import from ${other}/ (see DESIGN.md, "Layers").`,
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

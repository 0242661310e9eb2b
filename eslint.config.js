// Process boundaries are visible in paths (DESIGN.md): app/ is plain Node and never
// imports Electron or the UI; renderer/ never imports Node; main/ is the only glue.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const nodeBuiltins = ['node:*', 'fs', 'path', 'child_process', 'os', 'crypto', 'net', 'stream'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'out/**', 'release/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['app/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['electron', 'electron/*'],
              message: 'app/ is the engine: it never imports Electron.',
            },
            {
              group: ['**/main/**', '**/renderer/**'],
              message: 'app/ must not depend on main/ or renderer/.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['renderer/**/*.{ts,tsx}'],
    // The Vite config runs in Node; unit tests run under Vitest in Node, never in the page, and
    // pin the renderer's copies of engine rules to the engine itself.
    ignores: ['renderer/vite.config.ts', 'renderer/**/*.test.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      // typescript-eslint's version of the rule, for allowTypeImports: the renderer may name the
      // IPC contract's types (erased at build) and nothing else of main/ or app/.
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: ['electron'],
          patterns: [
            { group: nodeBuiltins, message: 'renderer/ runs sandboxed: no Node modules.' },
            {
              group: ['**/app/**', '**/main/**', '!**/main/ipc/contract.js'],
              message: 'renderer/ talks to the engine only through window.zflash.',
            },
            {
              group: ['**/main/ipc/contract.js'],
              allowTypeImports: true,
              message: "renderer/ may import the IPC contract's types only (import type).",
            },
          ],
        },
      ],
      // @types/node is in the renderer's program only because the contract's own imports need
      // it; its globals do not exist in the sandboxed page.
      'no-restricted-globals': [
        'error',
        ...[
          'process',
          'Buffer',
          'require',
          'global',
          '__dirname',
          '__filename',
          'setImmediate',
        ].map((name) => ({ name, message: 'renderer/ runs sandboxed: no Node globals.' })),
      ],
    },
  },
);

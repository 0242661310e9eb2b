// Process boundaries are visible in paths (DESIGN.md): app/ is plain Node and never
// imports Electron or the UI; renderer/ never imports Node; main/ is the only glue.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const nodeBuiltins = ['node:*', 'fs', 'path', 'child_process', 'os', 'crypto', 'net', 'stream'];
const browserOnly = [
  { group: nodeBuiltins, message: 'This runs in the page (sandboxed): no Node modules.' },
  { group: ['zod', '**/app/**'], message: 'Browser bundles stay small: no zod, no engine.' },
];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'out/**',
      'release/**',
      'coverage/**',
      'test-results/**',
      'playwright-report/**',
      // Mutation testing (npm run mutation): Stryker's sandbox and its reports.
      '.stryker-tmp/**',
      'reports/**',
    ],
  },
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
  // main/: raw ipcMain/ipcRenderer only inside main/ipc/, where every handler goes through the
  // contract and the sender check (GitHub Desktop bans them the same way); no sendSync, no
  // generic send; no shell.openExternal at all (security checklist item 15: nothing to open).
  {
    files: ['main/**/*.ts', 'e2e/**/*.ts'],
    ignores: ['main/ipc/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'electron',
              importNames: ['ipcMain', 'ipcRenderer'],
              message:
                'Use the IPC contract: main/ipc/ (handle, electron-ipc, renderer-transport).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['main/**/*.ts', 'e2e/**/*.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'shell', property: 'openExternal', message: 'The app opens no external URL.' },
        { object: 'ipcRenderer', property: 'sendSync', message: 'No synchronous IPC: use invoke.' },
        { object: 'ipcRenderer', property: 'send', message: 'No generic send: use invoke.' },
        {
          object: 'electron',
          property: 'ipcMain',
          message: 'Use the IPC contract: main/ipc/ only.',
        },
        {
          object: 'electron',
          property: 'ipcRenderer',
          message: 'Use the IPC contract: main/ipc/ only.',
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name='sendSync']",
          message: 'No synchronous IPC: use invoke.',
        },
      ],
    },
  },
  // The preload and the web shell's page run in a browser: no Node modules, no zod or engine.
  {
    files: ['main/preload.ts', 'e2e/web-shell/page/**/*.ts', 'e2e/web-shell/names.ts'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'electron',
              importNames: ['ipcMain', 'ipcRenderer'],
              message: 'Use the IPC contract: main/ipc/renderer-transport.ts.',
            },
          ],
          patterns: browserOnly,
        },
      ],
    },
  },
  {
    files: ['main/ipc/renderer-transport.ts', 'main/ipc/install-api.ts', 'main/ipc/methods.ts'],
    languageOptions: { globals: { ...globals.browser } },
    rules: { 'no-restricted-imports': ['error', { patterns: browserOnly }] },
  },
  {
    files: ['main/placeholder/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
);

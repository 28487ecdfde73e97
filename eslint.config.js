import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.ledgerline/', '.tap/', '.scratch/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', crypto: 'readonly', URL: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly' } },
    rules: {
      'no-restricted-properties': ['error',
        { object: 'process', property: 'env', message: 'Read configuration through src/config.ts only.' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error',
        { selector: "NewExpression[callee.name='Function']", message: 'Never compile code from strings.' },
        { selector: "CallExpression[callee.name='eval']", message: 'Never eval.' }]
    }
  },
  {
    // The launcher reads DATABASE_URL and LEDGERLINE_DATA_DIR to find a running server before any TypeScript loads.
    files: ['src/config.ts', 'bin/ledgerline.js', 'bench/**', 'src/**/*.test.ts', 'test/**'],
    rules: { 'no-restricted-properties': 'off' }
  }
)

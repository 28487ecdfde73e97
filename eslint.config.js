import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  // web/dist*: the dashboard's build output (web/ensure-built.ts), never committed.
  { ignores: ['node_modules/', 'dist/', '.ledgerline/', '.tap/', '.scratch/', 'bench/results/', 'web/dist/', 'web/dist.*/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly',
        setInterval: 'readonly', clearInterval: 'readonly', crypto: 'readonly', URL: 'readonly',
        AbortController: 'readonly', AbortSignal: 'readonly'
      }
    },
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
    // Layering (docs/architecture.md, Layout): the domain does no I/O; entry points reach the store through the application layer.
    files: ['src/domain/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [{
          group: ['**/application/**', '**/http/**', '**/cli/**', '**/sql/**', '**/projections/**', '**/ops/**', '**/runtime.ts',
            'pg', '@electric-sql/pglite', 'fastify', '@kurrent/*', 'node:fs', 'node:fs/*', 'node:net', 'node:child_process'],
          message: 'The domain imports no I/O: time and lookups arrive as arguments.'
        }]
      }]
    }
  },
  {
    files: ['src/http/**/*.ts', 'src/cli/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [{
          // The log position codec is the wire format of X-Consistent-With and --from: pure, no I/O.
          group: ['**/eventstore/**', '!**/eventstore/position.ts', '**/sql/**', 'pg', '@electric-sql/pglite', '@kurrent/*'],
          allowTypeImports: true,
          message: 'Entry points reach the store through the application layer.'
        }]
      }]
    }
  },
  {
    // Line width (STYLE): a long SQL string, schema or message goes on several lines. URLs and regular expressions may run long.
    files: ['**/*.ts', '**/*.tsx', '**/*.js', '**/*.mjs'],
    rules: { 'max-len': ['error', { code: 140, ignoreUrls: true, ignoreRegExpLiterals: true }] }
  },
  {
    // A complexity cap for the code that ships (tests: four table-driven checks are still above it).
    files: ['src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { complexity: ['error', 15] }
  },
  {
    // The launcher reads DATABASE_URL and LEDGERLINE_DATA_DIR to find a running server before any TypeScript loads.
    files: ['src/config.ts', 'bin/ledgerline.js', 'bench/**', 'src/**/*.test.ts', 'test/**'],
    rules: { 'no-restricted-properties': 'off' }
  }
)

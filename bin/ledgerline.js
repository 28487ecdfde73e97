#!/usr/bin/env node
// Registers the TypeScript loader, then runs the CLI from source.
import { register } from 'tsx/esm/api'

register()
const { run } = await import('../src/cli/main.ts')
await run(process.argv)

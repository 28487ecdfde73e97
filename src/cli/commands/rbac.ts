import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { InvalidInput } from '../../domain/errors.ts'
import { PolicyCases, runCases, type CaseResult } from '../../domain/rbac/cases.ts'
import { print, toJson, withRuntime } from '../context.ts'

interface Options { org: string, json?: boolean }

const CasesFile = z.union([PolicyCases, z.object({ cases: PolicyCases }).strict().transform((file) => file.cases)])

function describe (result: CaseResult): string {
  if (result.passed) return `  ✓ ${result.name}`
  const why = result.explanation
  const lines = [`  ✗ ${result.name}: expected ${result.expected}, got ${result.got}`]
  if (why !== undefined) {
    if (why.reason === 'denied') lines.push(`      denied by ${why.deciding.map((d) => `${d.roleId} grant #${d.grant}`).join(', ')}`)
    if (why.reason === 'allowed') lines.push(`      allowed by ${why.deciding.map((d) => `${d.roleId} grant #${d.grant}`).join(', ')}`)
    if (why.reason === 'no_matching_grant') lines.push('      no grant of the principal\'s roles allows it')
    for (const failed of why.failedConditions) lines.push(`      condition of ${failed.roleId} grant #${failed.grant} (${failed.effect}) failed at ${failed.clause}`)
  }
  return lines.join('\n')
}

export function rbacCommand (program: Command): void {
  const rbac = program.command('rbac').description('custom roles and policies')
  rbac.command('test <cases>')
    .description('run policy test cases (YAML or JSON: a list, or {cases: [...]}) against an organization\'s policy; exits 1 when one fails')
    .requiredOption('--org <orgId>', 'the organization whose roles to test')
    .option('--json', 'print {"passed", "failed", "results"}')
    .action(async (file: string, options: Options) => {
      const parsed = CasesFile.safeParse(parseYaml(readFileSync(file, 'utf8')))
      if (!parsed.success) throw new InvalidInput(parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })))
      await withRuntime(async (runtime) => {
        const results = runCases(await runtime.identity.policies.policyOf(options.org), parsed.data)
        const failed = results.filter((result) => !result.passed).length
        if (options.json === true) print(toJson({ passed: results.length - failed, failed, results }))
        else {
          for (const result of results) print(describe(result))
          print(`${results.length - failed} passed, ${failed} failed`)
        }
        if (failed > 0) process.exitCode = 1
      })
    })
}

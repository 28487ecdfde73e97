import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { assignRole, changeOrganization, createRole, unassignRole } from '../../application/identity/commands.ts'
import { systemCommand } from '../../domain/envelope.ts'
import { InvalidInput } from '../../domain/errors.ts'
import { testPolicy } from '../../application/rbac/cases.ts'
import { listRoles, type RoleListing } from '../../application/rbac/role-list.ts'
import { PolicyCases, type CaseResult } from '../../domain/rbac/cases.ts'
import { GrantsInput, parseGrants, type GrantData } from '../../domain/rbac/events.ts'
import { holdersOf } from '../../projections/rbac/queries.ts'
import { print, toJson, withRuntime } from '../context.ts'
import { fail } from '../io.ts'

interface Options { org: string, json?: boolean }

const CasesFile = z.union([PolicyCases, z.object({ cases: PolicyCases }).strict().transform((file) => file.cases)])
const GrantsFile = z.union([GrantsInput, z.object({ grants: GrantsInput }).strict().transform((file) => file.grants)])

/** A YAML or JSON file (JSON is YAML), validated: the whole input before the first append. */
function readFile<T> (path: string, schema: z.ZodType<T>): T {
  const parsed = schema.safeParse(parseYaml(readFileSync(path, 'utf8')))
  if (!parsed.success) throw new InvalidInput(parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })))
  return parsed.data
}

const readGrants = (path: string): GrantData[] => parseGrants(readFile(path, GrantsFile))

/** Commands from the CLI act as the system: whoever runs it holds the database credentials. */
const cli = (what: string) => systemCommand(`cli:rbac:${what}`)

const grantText = (grant: GrantData): string =>
  `${grant.effect} ${grant.actions.join(', ')} on ${grant.resource}${grant.when === undefined ? '' : ` when ${JSON.stringify(grant.when)}`}`

/** A role in `rbac roles --json`: a built-in one by its actions. */
function roleJson (role: RoleListing): unknown {
  if (role.builtIn) return { roleId: role.roleId, name: role.name, builtIn: true, actions: role.actions }
  const { roleId, name, description, grants, holders } = role
  return { roleId, name, description, grants, holders, builtIn: false }
}

function roleText (role: RoleListing): string {
  if (role.builtIn) return `${role.roleId} (built-in): ${role.actions.length} actions`
  return [
    `${role.roleId} ${role.name}${role.description === '' ? '' : ` — ${role.description}`}`,
    ...role.grants.map((grant, index) => `  #${index} ${grantText(grant)}`),
    `  held by: ${role.holders.length === 0 ? 'nobody' : role.holders.join(', ')}`
  ].join('\n')
}

function describe (result: CaseResult): string {
  if (result.passed) return `  ✓ ${result.name}`
  const why = result.explanation
  const lines = [`  ✗ ${result.name}: expected ${result.expected}, got ${result.got}`]
  if (why !== undefined) {
    if (why.reason === 'denied') lines.push(`      denied by ${why.deciding.map((d) => `${d.roleId} grant #${d.grant}`).join(', ')}`)
    if (why.reason === 'allowed') lines.push(`      allowed by ${why.deciding.map((d) => `${d.roleId} grant #${d.grant}`).join(', ')}`)
    if (why.reason === 'no_matching_grant') lines.push('      no grant of the principal\'s roles allows it')
    for (const failed of why.failedConditions) lines.push(`      condition of ${failed.roleId} grant #${failed.grant} (${failed.effect}) ` +
      `failed at ${failed.clause}`)
  }
  return lines.join('\n')
}

export function rbacCommand (program: Command): void {
  const rbac = program.command('rbac').description('custom roles and policies')
  rbac.command('test <cases>')
    .description('run policy test cases (YAML or JSON: a list, or {cases: [...]}) against an organization\'s policy; each names a member ' +
      '(principal.id) or roles (principal.roles); exits 1 when one fails')
    .requiredOption('--org <orgId>', 'the organization whose roles to test')
    .option('--json', 'print {"passed", "failed", "results"}')
    .action(async (file: string, options: Options) => {
      const cases = readFile(file, CasesFile)
      await withRuntime(async (runtime) => {
        const { passed, failed, results } = await testPolicy(runtime.identity.policies, options.org, cases)
        if (options.json === true) print(toJson({ passed, failed, results }))
        else {
          for (const result of results) print(describe(result))
          print(`${passed} passed, ${failed} failed`)
        }
        if (failed > 0) fail()
      })
    })

  rbac.command('roles')
    .description('list an organization\'s roles: built-in and custom, with grants and holders')
    .requiredOption('--org <orgId>', 'the organization')
    .option('--json', 'print {"items": [...]}')
    .action(async (options: Options) => {
      await withRuntime(async (runtime) => {
        const roles = await listRoles(runtime.identity, options.org)
        if (options.json === true) print(toJson({ items: roles.map(roleJson) }))
        else for (const role of roles) print(roleText(role))
      })
    })

  rbac.command('create-role')
    .description('create a custom role from a grants file (YAML or JSON: a list, or {grants: [...]})')
    .requiredOption('--org <orgId>', 'the organization')
    .requiredOption('--name <name>', 'the role\'s name')
    .requiredOption('--grants <file>', 'the grants')
    .option('--description <text>', 'what the role is for')
    .option('--json', 'print {"roleId", "position"}')
    .action(async (options: Options & { name: string, grants: string, description?: string }) => {
      const grants = readGrants(options.grants)
      await withRuntime(async (runtime) => {
        const created = await createRole(runtime.identity, cli('create-role'), options.org,
          { name: options.name, grants, ...(options.description === undefined ? {} : { description: options.description }) })
        print(options.json === true ? toJson(created) : `created ${created.roleId} (${options.name}) at ${created.position}`)
      })
    })

  rbac.command('set-grants')
    .description('replace the grants of a custom role from a grants file')
    .requiredOption('--org <orgId>', 'the organization')
    .requiredOption('--role <roleId>', 'the custom role')
    .requiredOption('--grants <file>', 'the grants')
    .action(async (options: Options & { role: string, grants: string }) => {
      const grants = readGrants(options.grants)
      await withRuntime(async (runtime) => {
        const written = await changeOrganization(runtime.identity, cli('set-grants'), options.org,
          { type: 'SetRoleGrants', data: { roleId: options.role, grants } })
        print(written.position === null ? 'unchanged' : `grants of ${options.role} set at ${written.position}`)
      })
    })

  rbac.command('delete-role')
    .description('delete a custom role nobody holds')
    .requiredOption('--org <orgId>', 'the organization')
    .requiredOption('--role <roleId>', 'the custom role')
    .action(async (options: Options & { role: string }) => {
      await withRuntime(async (runtime) => {
        const written = await changeOrganization(runtime.identity, cli('delete-role'), options.org,
          { type: 'DeleteRole', data: { roleId: options.role } })
        print(`deleted ${options.role} at ${written.position}`)
      })
    })

  for (const [name, description, change] of [
    ['assign', 'give a member a role (built-in or custom)', assignRole],
    ['unassign', 'take a role from a member', unassignRole]
  ] as const) {
    rbac.command(name)
      .description(description)
      .requiredOption('--org <orgId>', 'the organization')
      .requiredOption('--role <role>', 'owner, admin, member, viewer or a custom role id')
      .requiredOption('--user <userId>', 'the member')
      .action(async (options: Options & { role: string, user: string }) => {
        await withRuntime(async (runtime) => {
          const written = await change(runtime.identity, cli(name), options.org, options.user, options.role)
          print(written.position === null ? 'unchanged' : `${name}ed ${options.role} ${name === 'assign' ? 'to' : 'from'} ` +
            `${options.user} at ${written.position}`)
        })
      })
  }

  rbac.command('holders')
    .description('who in an organization holds an action, through which role and grant (from the RBAC read model, once it has caught up ' +
      'with the log)')
    .requiredOption('--org <orgId>', 'the organization')
    .requiredOption('--action <action>', 'a catalogue action, e.g. audit:export')
    .option('--json', 'print {"action", "holders": [...]}')
    .action(async (options: Options & { action: string }) => {
      await withRuntime(async (runtime) => {
        // Wait for the read model (this process leads the projection, or the server does).
        await runtime.runner.waitFor(await runtime.store.committedHeadPosition(), runtime.config.consistencyTimeoutMs, ['rbac'])
        const holders = await holdersOf(runtime.sql, options.org, options.action)
        if (options.json === true) {
          print(toJson({ action: options.action, holders }))
          return
        }
        if (holders.length === 0) print(`nobody in ${options.org} holds ${options.action}`)
        for (const h of holders) print(`${h.userId}: ${h.effect} via ${h.roleId} grant #${h.grant} (${h.pattern} on ` +
          `${h.resource}${h.conditional ? ', conditional' : ''})`)
      }, { runProjections: true })
    })
}

/**
 * Query plans in tests: an executor that plans what it is asked instead of
 * running it, for tests that check a query reads the index it should.
 */
import type { SqlExecutor } from '../../src/sql/client.ts'

/** A plan node as EXPLAIN (FORMAT JSON) gives it: `Node Type`, `Index Name`, `Plans`… */
export type PlanNode = Record<string, unknown>

/**
 * An executor over `sql` whose queries are planned, not run: each plan's root goes to `seen`, and the query answers no
 * rows. PGlite gives the JSON plan as text, the server as an object; both arrive parsed.
 */
export function planningExecutor (sql: SqlExecutor, seen: (plan: PlanNode) => void): SqlExecutor {
  return {
    async query<Row>(text: string, params?: readonly unknown[]) {
      const { rows } = await sql.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${text}`, params)
      const plan = rows[0]!['QUERY PLAN']
      const [root] = (typeof plan === 'string' ? JSON.parse(plan) : plan) as Array<{ Plan: PlanNode }>
      seen(root!.Plan)
      return { rows: [] as Row[], rowCount: 0 }
    }
  }
}

/** Every node of a plan, the root first, then each child's nodes in order (depth first). */
export function planNodes (plan: PlanNode): PlanNode[] {
  return [plan, ...((plan.Plans as PlanNode[] | undefined) ?? []).flatMap(planNodes)]
}

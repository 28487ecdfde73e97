/** The outcome of policy cases, each with the API's explain(): the grant that decided and the clauses that did not hold. */
import type { CaseResult, Decision, Role } from './api.ts'
import { clauseAt, describe } from './condition.ts'

const REASONS: Record<Decision['reason'], string> = {
  allowed: 'allowed by a grant', denied: 'refused by a deny', no_matching_grant: 'no grant allows it'
}

export function TestResults ({ report, roles }: { report: { passed: number, failed: number, results: CaseResult[] }, roles: Role[] }) {
  return (
    <div className="test-results" role="status">
      <h3>{report.passed} passed, {report.failed} failed</h3>
      <ul className="results" aria-label="Test results">
        {report.results.map((result) => (
          <li key={result.name} className={result.passed ? 'passed' : 'failed'}>
            <b>{result.name}: {result.passed ? 'passed' : 'failed'}</b> (expected {result.expected}, got {result.got})
            {result.explanation !== undefined && <Explanation decision={result.explanation} roles={roles} />}
          </li>
        ))}
      </ul>
    </div>
  )
}

function Explanation ({ decision, roles }: { decision: Decision, roles: Role[] }) {
  const roleName = (roleId: string) => roles.find((role) => role.roleId === roleId)?.name ?? roleId
  const grantName = (roleId: string, grant: number) => `grant ${grant + 1} of ${roleName(roleId)}`
  return (
    <div className="explanation">
      <p>Why: {REASONS[decision.reason]}.</p>
      {decision.deciding.length > 0 && (
        <p>Decided by {decision.deciding.map((entry) => `${grantName(entry.roleId, entry.grant)} (${entry.effect})`).join(', ')}.</p>
      )}
      {decision.failedConditions.length > 0 && (
        <ul aria-label="Clauses that failed">
          {decision.failedConditions.map((failed, i) => {
            const when = roles.find((role) => role.roleId === failed.roleId)?.grants[failed.grant]?.when
            const found = when === undefined ? undefined : clauseAt(when, failed.clause)
            return (
              <li key={i} className="failed-clause">
                In {grantName(failed.roleId, failed.grant)} ({failed.effect}), condition{found?.place ? ` ${found.place}` : ''} failed:{' '}
                <code>{found === undefined ? failed.clause : describe(found.clause)}</code>
              </li>
            )
          })}
        </ul>
      )}
    </div>
  )
}

/** Previous / Next over keyset pages (lib/pages.ts). */
import type { useCursorPages } from './pages.ts'

export function Pager ({ label, pages, nextCursor }: {
  label: string, pages: ReturnType<typeof useCursorPages>, nextCursor: string | null | undefined
}) {
  if (pages.pageNumber === 1 && (nextCursor === null || nextCursor === undefined)) return null
  return (
    <nav className="pager" aria-label={`${label} pages`}>
      <button type="button" className="secondary" onClick={pages.previous} disabled={pages.pageNumber === 1}>Previous</button>
      <span>Page {pages.pageNumber}</span>
      <button type="button" className="secondary" onClick={() => nextCursor != null && pages.next(nextCursor)}
        disabled={nextCursor === null || nextCursor === undefined}>Next</button>
    </nav>
  )
}

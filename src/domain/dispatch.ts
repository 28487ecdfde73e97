/**
 * Handler tables: a decider or fold that handles each command or event type
 * in a function of its own keeps them in a record by type, typed so that a
 * missing type fails to compile. Looked up by own property only, so a type
 * like `__proto__` or `toString` finds no handler.
 */
export function handlerOf<H> (table: { readonly [type: string]: H | undefined }, type: string): H | undefined {
  return Object.hasOwn(table, type) ? table[type] : undefined
}

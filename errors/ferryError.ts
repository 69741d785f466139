/**
 * The base of Ferry's own errors. Subclasses add their context as readonly fields; `name` is the
 * subclass's, so logs and `instanceof`-free checks can tell them apart.
 *
 * Errors named `…Error` stay inside a process. What crosses the workflow/activity boundary is a
 * Temporal `ApplicationFailure` with a `…Failure` type, built from these where needed.
 */
export class FerryError extends Error {
  constructor(message: string, options?: { readonly cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

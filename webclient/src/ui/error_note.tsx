/** A failed request's text, for the person: the server's detail when it gave one. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** An error line announced to screen readers, or nothing. */
export function ErrorNote({ error }: { error: string | null }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}

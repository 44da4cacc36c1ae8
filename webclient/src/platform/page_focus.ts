/** Whether the user is looking at this page: visible and focused. */
export function isPageFocused(): boolean {
  return document.visibilityState === "visible" && document.hasFocus();
}

/** Calls `onChange` whenever that answer changes. Returns a function that stops watching. */
export function watchPageFocus(onChange: (focused: boolean) => void): () => void {
  let last = isPageFocused();
  const check = () => {
    const now = isPageFocused();
    if (now !== last) {
      last = now;
      onChange(now);
    }
  };
  document.addEventListener("visibilitychange", check);
  window.addEventListener("focus", check);
  window.addEventListener("blur", check);
  return () => {
    document.removeEventListener("visibilitychange", check);
    window.removeEventListener("focus", check);
    window.removeEventListener("blur", check);
  };
}

import { lazyTexts } from "../i18n";

/** Keyboard paths into the room (strings in src/i18n/locales). */
export const KEYBOARD_STRINGS = lazyTexts({ skipToComposer: "keyboard.skipToComposer" });

export function composerId(roomId: string): string {
  return `composer-${roomId}`;
}

/** Focuses the room's message box; false when there is none (read-only room, VIEWER). */
export function focusComposer(roomId: string, opts: { onlyFinePointer?: boolean } = {}): boolean {
  // On a touch screen, focusing would throw the on-screen keyboard over the messages.
  if (opts.onlyFinePointer && typeof matchMedia === "function" && matchMedia("(pointer: coarse)").matches) return false;
  const box = document.getElementById(composerId(roomId));
  if (!(box instanceof HTMLTextAreaElement) || box.disabled) return false;
  box.focus({ preventScroll: true });
  return true;
}

/** A skip link, shown when focused, that reaches the room's message box from the top of the page. */
export function ComposerSkipLink({ roomId }: { roomId: string }) {
  return (
    <a
      class="skip-link"
      href={`#${composerId(roomId)}`}
      data-testid="skip-to-composer"
      onClick={(e) => {
        if (focusComposer(roomId)) e.preventDefault();
      }}
    >
      {KEYBOARD_STRINGS.skipToComposer}
    </a>
  );
}

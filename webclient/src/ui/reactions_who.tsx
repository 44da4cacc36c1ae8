import { lazyTexts, t } from "../i18n";
import type { ChatMessage } from "../net/schemas";
import type { RoomSession } from "../session/room_session";
import { hasMyReaction } from "../state/my_reactions";
import { reactorNames } from "../state/reactors";

/** The user-visible strings of reactions, in the current language (src/i18n/locales). */
export const REACTION_STRINGS = lazyTexts(
  { group: "reactions.group", you: "reactions.you", includingYou: "reactions.includingYou" },
  {
    andOthers: (n: number) => t("reactions.others", { count: n }),
    reactedWith: (emoji: string) => t("reactions.reactedWith", { emoji }),
  },
);

const S = REACTION_STRINGS;

/** "Ann, Bob and 2 others": the names first, then how many the count has beyond them. */
export function whoText(names: readonly string[], others: number): string {
  const parts = others > 0 ? [...names, S.andOthers(others)] : [...names];
  if (parts.length <= 1) return parts[0] ?? "";
  return t("common.and", { rest: parts.slice(0, -1).join(t("common.listSeparator")), last: parts[parts.length - 1] });
}

/**
 * The reaction buttons of a message, each with who reacted: a tooltip shown on hover and on
 * keyboard focus (also announced, as the button's description), from `reacted_by` in history
 * and the live frames since.
 */
export function ReactionBar({ message, room }: { message: ChatMessage; room: RoomSession }) {
  const reactions = Object.entries(message.reactions).filter(([, n]) => n > 0);
  if (reactions.length === 0) return null;
  const live = room.connection.value.state === "live";
  const myReactions = room.myReactions.value;
  const me = room.me.user_id;
  // displayName() answers the id itself for someone it does not know: then the name from history wins.
  const nameOf = (id: string) => {
    if (id === me) return S.you;
    const name = room.displayName(id);
    return name === id ? null : name;
  };
  return (
    <div class="reactions" role="group" aria-label={S.group}>
      {reactions.map(([emoji, count], i) => {
        const pressed = hasMyReaction(myReactions, message.message_id, emoji);
        const { names, others } = reactorNames(message.reacted_by?.[emoji], count, nameOf);
        const who = whoText(names, others);
        const tipId = `who-${message.message_id}-${i}`;
        return (
          <span key={emoji} class="reaction-wrap">
            <button
              type="button"
              class={`reaction${pressed ? " pressed" : ""}`}
              aria-pressed={pressed}
              aria-label={`${t("reactions.button", { emoji, count })}${pressed ? S.includingYou : ""}`}
              aria-describedby={who ? tipId : undefined}
              disabled={!live}
              data-emoji={emoji}
              onClick={() => room.toggleReaction(message.message_id, emoji)}
            >
              {emoji} {count}
            </button>
            {who ? (
              <span role="tooltip" id={tipId} class="reaction-who" data-testid="reaction-who">
                {who} {S.reactedWith(emoji)}
              </span>
            ) : null}
          </span>
        );
      })}
    </div>
  );
}

/** Human sentences for system events, stored (in the timeline) or transient (notices). */
import { t } from "../i18n";

export type NameOf = (userId: string) => string;

/** A role or room status in the current language (the wire value when it is not a known one). */
export function termOf(group: "roles" | "roomStatus", value: string): string {
  return t(`${group}.${value}`, { defaultValue: value });
}

/**
 * A `NameOf` for one system event: `known` first (the room's members, when the room is open),
 * then the names the event was stored with (`user_display_name`, `actor_display_name`: the
 * names at the time of the event, so a removed member still has one), then the id.
 */
export function eventNameOf(content: Record<string, unknown>, known: (userId: string) => string | null = () => null): NameOf {
  return (userId) => {
    const name = known(userId);
    if (name) return name;
    for (const who of ["user", "actor"] as const) {
      const stored = content[`${who}_display_name`];
      if (content[`${who}_id`] === userId && typeof stored === "string" && stored) return stored;
    }
    return userId;
  };
}

export function describeSystemEvent(content: Record<string, unknown>, nameOf: NameOf): string {
  const event = typeof content.event === "string" ? content.event : "event";
  const user = typeof content.user_id === "string" ? nameOf(content.user_id) : t("common.someone");
  const actor = typeof content.actor_id === "string" ? nameOf(content.actor_id) : null;
  const role = typeof content.role === "string" ? termOf("roles", content.role) : null;
  switch (event) {
    case "user_joined":
      return t("system.joined", { user });
    case "user_left":
      return t("system.left", { user });
    case "member_added":
      return t(`system.added${role ? "As" : ""}${actor ? "By" : ""}`, { user, role, actor });
    case "member_removed":
      return t(actor ? "system.removedBy" : "system.removed", { user, actor });
    case "member_role_changed":
      return t(actor ? "system.roleChangedBy" : "system.roleChanged", { user, actor, role: role ?? t("system.newRole") });
    case "room_status_changed": {
      const from = typeof content.old_status === "string" ? termOf("roomStatus", content.old_status) : "?";
      const to = typeof content.new_status === "string" ? termOf("roomStatus", content.new_status) : "?";
      return t("system.statusChanged", { who: actor ?? user, from, to });
    }
    case "alert_resolved": {
      const title = typeof content.title === "string" && content.title ? content.title : t("system.alert");
      // The actor is the webhook's bot, no member whose name the room knows: the badge says it.
      return t("system.resolved", { title });
    }
    default:
      return t(actor ? "system.otherBy" : "system.other", { event: event.replace(/_/g, " "), actor });
  }
}

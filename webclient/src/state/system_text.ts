/** Human sentences for system events, stored (in the timeline) or transient (notices). */

export type NameOf = (userId: string) => string;

export function describeSystemEvent(content: Record<string, unknown>, nameOf: NameOf): string {
  const event = typeof content.event === "string" ? content.event : "event";
  const user = typeof content.user_id === "string" ? nameOf(content.user_id) : "someone";
  const actor = typeof content.actor_id === "string" ? nameOf(content.actor_id) : null;
  const by = actor ? ` by ${actor}` : "";
  switch (event) {
    case "user_joined":
      return `${user} joined`;
    case "user_left":
      return `${user} left`;
    case "member_added": {
      const role = typeof content.role === "string" ? ` as ${content.role}` : "";
      return `${user} was added${role}${by}`;
    }
    case "member_removed":
      return `${user} was removed${by}`;
    case "member_role_changed": {
      const role = typeof content.role === "string" ? content.role : "a new role";
      return `${user} is now ${role}${by ? ` (changed${by})` : ""}`;
    }
    case "room_status_changed": {
      const from = typeof content.old_status === "string" ? content.old_status : "?";
      const to = typeof content.new_status === "string" ? content.new_status : "?";
      const who = actor ?? user;
      return `${who} changed the room status from ${from} to ${to}`;
    }
    case "alert_resolved": {
      const title = typeof content.title === "string" && content.title ? content.title : "alert";
      // The actor is the webhook's bot, no member whose name the room knows: the badge says it.
      return `Resolved: ${title}`;
    }
    default:
      return `${event.replace(/_/g, " ")}${by}`;
  }
}

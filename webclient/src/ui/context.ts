import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { SoundPlayer } from "../platform/sound";
import type { AppSession } from "../session/app_session";
import type { Router } from "./router";

export interface AppServices {
  session: AppSession;
  router: Router;
  sound: SoundPlayer;
}

export const AppContext = createContext<AppServices | null>(null);

export function useApp(): AppServices {
  const services = useContext(AppContext);
  if (!services) throw new Error("AppContext is not provided");
  return services;
}
